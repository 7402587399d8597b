package dev.leviathan.core.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
import org.tensorflow.op.math.Mean;
import org.tensorflow.types.TFloat32;

/** {@link Layers#layerNorm} (fused kernel) against the plain mean/variance formula, values and gradients. */
class LayerNormTest {
  static final int B = 3, T = 5, C = 8;
  static final float EPS = 1e-5f;

  static Operand<TFloat32> plain(Ops tf, Operand<TFloat32> x, Operand<TFloat32> gain, Operand<TFloat32> bias) {
    Operand<TFloat32> mean = tf.math.mean(x, tf.constant(-1), Mean.keepDims(true));
    Operand<TFloat32> centred = tf.math.sub(x, mean);
    Operand<TFloat32> var = tf.math.mean(tf.math.square(centred), tf.constant(-1), Mean.keepDims(true));
    return tf.math.add(tf.math.mul(tf.math.mul(centred, tf.math.rsqrt(tf.math.add(var, tf.constant(EPS)))), gain), bias);
  }

  @Test
  void fusedLayerNormEqualsThePlainFormulaInValueAndGradient() {
    Random r = new Random(3);
    float[] xs = new float[B * T * C];
    for (int i = 0; i < xs.length; i++) {
      xs[i] = (float) (3 * r.nextGaussian() + (i % C) * 0.5);
    }
    float[] gs = new float[C];
    float[] bs = new float[C];
    float[] ws = new float[B * T * C];
    for (int i = 0; i < C; i++) {
      gs[i] = 1 + 0.1f * i;
      bs[i] = -0.2f * i;
    }
    for (int i = 0; i < ws.length; i++) {
      ws[i] = (float) r.nextGaussian();
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      // unknown batch and time, as in the model
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, C)));
      Operand<TFloat32> gain = tf.constant(gs);
      Operand<TFloat32> bias = tf.constant(bs);
      Operand<TFloat32> w = tf.constant(Shape.of(B, T, C), DataBuffers.of(ws));
      Operand<TFloat32> fused = Layers.layerNorm(tf, x, gain, bias, EPS);
      Operand<TFloat32> ref = plain(tf, x, gain, bias);
      // a weighted sum makes every output's gradient different
      Operand<TFloat32> lf = tf.sum(tf.math.mul(fused, w), tf.constant(new int[] {0, 1, 2}));
      Operand<TFloat32> lr = tf.sum(tf.math.mul(ref, w), tf.constant(new int[] {0, 1, 2}));
      var gf = tf.gradients(lf, List.of(x, gain, bias));
      var gr = tf.gradients(lr, List.of(x, gain, bias));
      try (Session s = new Session(g);
          TFloat32 xt = TFloat32.tensorOf(Shape.of(B, T, C), DataBuffers.of(xs));
          Result res = s.runner().feed(x, xt).fetch(fused).fetch(ref)
              .fetch(gf.dy(0)).fetch(gr.dy(0)).fetch(gf.dy(1)).fetch(gr.dy(1)).fetch(gf.dy(2)).fetch(gr.dy(2)).run()) {
        for (int k = 0; k < 8; k += 2) {
          float[] a = read((TFloat32) res.get(k));
          float[] b = read((TFloat32) res.get(k + 1));
          assertEquals(b.length, a.length);
          for (int i = 0; i < a.length; i++) {
            assertEquals(b[i], a[i], 2e-5 * Math.max(1, Math.abs(b[i])), "output " + k + " element " + i);
          }
        }
      }
    }
  }

  private static float[] read(TFloat32 t) {
    float[] out = new float[(int) t.size()];
    t.copyTo(DataBuffers.of(out, false, false));
    return out;
  }
}
