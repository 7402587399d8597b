package dev.leviathan.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.leviathan.core.ops.NativeLayers;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.testing.TinyTraining;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * A model on the fused LayerNorm and GELU kernels gives the loss and gradients of the portable model, which
 * builds them from TensorFlow's own ops.
 */
class NativeLayersModelTest {
  /** The loss and then every parameter's gradient, for the same weights and tokens. */
  private static List<float[]> lossAndGradients(boolean portable, int[] tokens, int batch, int time) {
    MixerRegistry registry = TinyTraining.registry(new LanguageModelTest.PrevTokenMixer());
    ModelConfig config = ModelConfig.builder().vocabSize(11).context(8).width(16).layers(2)
        .tokenMixer(MixerSpec.of("prev")).norm(NormKind.LAYERNORM).build();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      ParameterStore store = new ParameterStore(2);
      LanguageModel m = new LanguageModel(tf, ResolvedModel.resolve(config, registry), store, portable);
      var x = tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, -1)));
      Operand<TFloat32> loss = m.loss(m.logits(x), x);
      List<Operand<TFloat32>> grads = Gradients.of(tf, loss, store.all());
      try (Session s = new Session(g); TInt32 xt = TInt32.tensorOf(Shape.of(batch, time), DataBuffers.of(tokens))) {
        store.initialize(s, 5);
        var runner = s.runner().feed(x, xt).fetch(loss);
        grads.forEach(runner::fetch);
        List<float[]> out = new ArrayList<>();
        try (Result r = runner.run()) {
          for (int i = 0; i < r.size(); i++) {
            TFloat32 t = (TFloat32) r.get(i);
            float[] values = new float[(int) t.size()];
            t.copyTo(DataBuffers.of(values, false, false));
            out.add(values);
          }
        }
        return out;
      }
    }
  }

  @Test
  void fusedLayersGiveThePortableModelsLossAndGradients() {
    assumeTrue(NativeLayers.loaded(), "fused layer kernels not loaded: " + NativeLayers.availability().reason());
    Random r = new Random(9);
    int[] tokens = new int[3 * 8];
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = r.nextInt(11);
    }
    List<float[]> fused = lossAndGradients(false, tokens, 3, 8);
    List<float[]> portable = lossAndGradients(true, tokens, 3, 8);
    assertEquals(portable.size(), fused.size());
    for (int k = 0; k < fused.size(); k++) {
      float[] a = portable.get(k);
      float[] b = fused.get(k);
      float scale = 0;
      for (float v : a) {
        scale = Math.max(scale, Math.abs(v));
      }
      for (int i = 0; i < a.length; i++) {
        assertEquals(a[i], b[i], 1e-5 * Math.max(1e-2, scale), (k == 0 ? "loss" : "gradient " + k) + " element " + i);
      }
    }
  }
}
