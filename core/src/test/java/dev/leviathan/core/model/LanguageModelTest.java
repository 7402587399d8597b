package dev.leviathan.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import dev.leviathan.core.testing.TinyTraining;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

class LanguageModelTest {
  /** Causal test mixer: y_t = (x_t + x_{t-1}) W, x_{-1} = 0. */
  static final class PrevTokenMixer implements TokenMixerProvider {
    @Override public String name() { return "prev"; }
    @Override public String description() { return "adds the previous token"; }
    @Override public int spiVersion() { return LeviathanSpi.VERSION; }
    @Override public boolean causal() { return true; }
    @Override public List<OptionSpec> options() { return List.of(); }
    @Override public TokenMixer create(LayerContext layer, MixerOptions options) {
      Ops tf = layer.tf();
      var w = layer.params().outputMatrix("w", layer.width(), layer.width());
      return x -> {
        Operand<TFloat32> padded = tf.pad(x, tf.constant(new int[][] {{0, 0}, {1, 0}, {0, 0}}), tf.constant(0f));
        Operand<TFloat32> prev = tf.slice(padded, tf.constant(new int[] {0, 0, 0}),
            tf.stack(List.of(tf.constant(-1), Layers.dim(tf, x, 1), tf.constant(-1))));
        return Layers.linear(tf, tf.math.add(x, prev), w, null);
      };
    }
  }

  /** A mixer whose parameter reaches the output only through StopGradient. */
  static final class FrozenMixer implements TokenMixerProvider {
    @Override public String name() { return "frozen"; }
    @Override public String description() { return "broken on purpose"; }
    @Override public int spiVersion() { return LeviathanSpi.VERSION; }
    @Override public boolean causal() { return false; }
    @Override public List<OptionSpec> options() { return List.of(); }
    @Override public TokenMixer create(LayerContext layer, MixerOptions options) {
      var w = layer.params().matrix("w", layer.width(), layer.width());
      return x -> Layers.linear(layer.tf(), x, layer.tf().stopGradient(w), null);
    }
  }

  private static ModelConfig.Builder small() {
    return ModelConfig.builder().vocabSize(11).context(8).width(16).layers(2);
  }

  @Test
  void parametersAreNamedCountedAndFlaggedForDecay() {
    MixerRegistry registry = TinyTraining.registry(new PrevTokenMixer());
    try (Graph g = new Graph()) {
      ParameterStore store = new ParameterStore(2);
      LanguageModel m = new LanguageModel(Ops.create(g), ResolvedModel.resolve(small().tokenMixer(MixerSpec.of("prev")).build(), registry), store);
      List<String> names = store.all().stream().map(Parameter::name).toList();
      assertEquals(List.of("model/wte", "model/wpe",
          "block0/norm1/gain", "block0/norm1/bias", "block0/mix/w",
          "block0/norm2/gain", "block0/norm2/bias", "block0/ffn/w1", "block0/ffn/b1", "block0/ffn/w2", "block0/ffn/b2",
          "block1/norm1/gain", "block1/norm1/bias", "block1/mix/w",
          "block1/norm2/gain", "block1/norm2/bias", "block1/ffn/w1", "block1/ffn/b1", "block1/ffn/w2", "block1/ffn/b2",
          "head/norm/gain", "head/norm/bias"), names);
      long expected = 11 * 16 + 8 * 16 + 2 * (4 * 16 + 16 * 16 + 16 * 64 + 64 + 64 * 16 + 16) + 2 * 16;
      assertEquals(expected, store.count());
      assertTrue(store.get("block0/mix/w").decay());
      assertFalse(store.get("block0/norm1/gain").decay());
      assertFalse(store.get("block1/ffn/b2").decay());
      assertTrue(m.causal());
      assertEquals(4, m.layers().size());
    }
  }

  @Test
  void untiedHeadAndRmsNormWithoutPositions() {
    MixerRegistry registry = TinyTraining.registry(new PrevTokenMixer());
    try (Graph g = new Graph()) {
      ParameterStore store = new ParameterStore(2);
      new LanguageModel(Ops.create(g), ResolvedModel.resolve(small().tokenMixer(MixerSpec.of("prev")).norm(NormKind.RMSNORM)
          .positionEmbedding(false).tieEmbeddings(false).build(), registry), store);
      List<String> names = store.all().stream().map(Parameter::name).toList();
      assertTrue(names.contains("head/lm_head"));
      assertFalse(names.contains("model/wpe"));
      assertFalse(names.contains("block0/norm1/bias"));
    }
  }

  @Test
  void hybridStackUsesOneMixerPerLayer() {
    MixerRegistry registry = TinyTraining.registry(new PrevTokenMixer(), new FrozenMixer());
    try (Graph g = new Graph()) {
      ParameterStore store = new ParameterStore(2);
      LanguageModel m = new LanguageModel(Ops.create(g), ResolvedModel.resolve(small()
          .tokenMixers(List.of(MixerSpec.of("prev"), MixerSpec.of("frozen"))).build(), registry), store);
      assertEquals("prev", m.layers().get(0).mixer());
      assertEquals("frozen", m.layers().get(2).mixer());
      assertFalse(m.causal(), "a stack with one non-causal mixer is not causal");
    }
  }

  @Test
  void missingGradientIsReportedWithTheParameterName() {
    MixerRegistry registry = TinyTraining.registry(new FrozenMixer());
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      ParameterStore store = new ParameterStore(2);
      LanguageModel m = new LanguageModel(tf, ResolvedModel.resolve(small().tokenMixer(MixerSpec.of("frozen")).build(), registry), store);
      var tokens = tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, -1)));
      Operand<TFloat32> loss = m.loss(m.logits(tokens), tokens);
      var e = assertThrows(Gradients.MissingGradientException.class, () -> Gradients.of(tf, loss, store.all()));
      assertTrue(e.getMessage().startsWith("no gradient reaches parameters block0/mix/w, block1/mix/w:"), e.getMessage());
    }
  }

  @Test
  void unknownMixerNameFailsWithTheKnownNames() {
    MixerRegistry registry = TinyTraining.registry(new PrevTokenMixer());
    try (Graph g = new Graph()) {
      var e = assertThrows(dev.leviathan.core.registry.RegistryException.class,
          () -> new LanguageModel(Ops.create(g), ResolvedModel.resolve(small().tokenMixer(MixerSpec.of("nope")).build(), registry), new ParameterStore(2)));
      assertTrue(e.getMessage().contains("'nope' does not exist"), e.getMessage());
      assertTrue(e.getMessage().endsWith("are: prev"), e.getMessage());
    }
  }

  @Test
  void shortTrainingRunLowersTheLoss() {
    List<Double> losses = TinyTraining.losses(new PrevTokenMixer(), Map.of(), 16, 150);
    double[] fl = TinyTraining.firstAndLast(losses, 10);
    assertTrue(fl[0] > 2.5, "initial loss near ln 16: " + fl[0]);
    assertTrue(fl[1] < fl[0] - 0.8, "loss fell from " + fl[0] + " to " + fl[1]);
  }
}
