package dev.leviathan.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.leviathan.core.ops.Layers;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFInvalidArgumentException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.train.BatchMatMul;
import org.tensorflow.types.TFloat32;

/**
 * The fused attention op against the graph form's ops (transposes, batched products, mask, softmax) on the
 * same q, k, v, in value and gradient. {@link AttentionMixerTest} runs the mixer on it (loop reference,
 * causality bit for bit, finite differences); {@link AttentionGraphFormTest} the same tests on the graph form.
 */
class NativeAttentionTest {
  @Test
  void isLoadedWhereTheBuildCompiledIt() {
    assumeTrue(NativeAttention.class.getResource(NativeAttention.RESOURCE) != null,
        "the build compiled no fused kernel (no gcc)");
    assertTrue(NativeAttention.loaded(), "fused attention kernel not loaded: " + NativeAttention.availability().reason());
  }

  /** The graph form of causal attention on {@code qkv [B, T, 3, H, D]}: {@code [B, T, H, D]}. */
  static Operand<TFloat32> graphForm(Ops tf, Operand<TFloat32> qkv, int t, int d) {
    var parts = tf.unstack(tf.linalg.transpose(qkv, tf.constant(new int[] {2, 0, 3, 1, 4})), 3L).output();
    Operand<TFloat32> q = tf.math.mul(parts.get(0), tf.constant((float) (1 / Math.sqrt(d))));
    Operand<TFloat32> scores = tf.train.batchMatMul(q, parts.get(1), TFloat32.class, BatchMatMul.adjY(true));
    scores = tf.math.add(scores, Layers.causalMask(tf, tf.constant(t)));
    Operand<TFloat32> y = tf.train.batchMatMul(tf.nn.softmax(scores), parts.get(2), TFloat32.class);
    return tf.linalg.transpose(y, tf.constant(new int[] {0, 2, 1, 3}));
  }

  /** Values and d/dqkv of a weighted sum of the outputs, fused then graph form. */
  static float[][] compare(int b, int t, int h, int d, double scale, long seed) {
    Random r = new Random(seed);
    float[] qkv = new float[b * t * 3 * h * d];
    for (int i = 0; i < qkv.length; i++) {
      qkv[i] = (float) (scale * r.nextGaussian());
    }
    float[] w = new float[b * t * h * d];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) r.nextGaussian();
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, 3, h, d)));
      Operand<TFloat32> weights = tf.constant(Shape.of(b, t, h, d), DataBuffers.of(w));
      Operand<TFloat32> fused = NativeAttention.attend(tf, x);
      Operand<TFloat32> graph = graphForm(tf, x, t, d);
      var gf = tf.gradients(tf.sum(tf.math.mul(fused, weights), tf.constant(new int[] {0, 1, 2, 3})), List.of(x));
      var gg = tf.gradients(tf.sum(tf.math.mul(graph, weights), tf.constant(new int[] {0, 1, 2, 3})), List.of(x));
      try (Session s = new Session(g);
          TFloat32 xt = TFloat32.tensorOf(Shape.of(b, t, 3, h, d), DataBuffers.of(qkv));
          Result res = s.runner().feed(x, xt).fetch(fused).fetch(graph).fetch(gf.dy(0)).fetch(gg.dy(0)).run()) {
        float[][] out = new float[4][];
        for (int i = 0; i < 4; i++) {
          TFloat32 v = (TFloat32) res.get(i);
          out[i] = new float[(int) v.size()];
          v.copyTo(DataBuffers.of(out[i], false, false));
        }
        return out;
      }
    }
  }

  static void assertClose(float[] expected, float[] actual, double tolerance, String what) {
    assertEquals(expected.length, actual.length, what);
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual[i], tolerance * Math.max(1, Math.abs(expected[i])), what + " element " + i);
    }
  }

  @Test
  void equalsTheGraphFormInValueAndGradient() {
    assumeTrue(NativeAttention.loaded(), "fused attention kernel not loaded");
    // head widths on and off the vector width, a context past one vector of scores, softmax near and far
    // from uniform
    int[][] shapes = {{2, 7, 2, 4}, {3, 70, 2, 5}, {2, 64, 4, 32}, {1, 1, 1, 3}};
    for (int[] s : shapes) {
      for (double scale : new double[] {0.5, 3}) {
        float[][] r = compare(s[0], s[1], s[2], s[3], scale, s[1] * 31L + s[3]);
        String what = java.util.Arrays.toString(s) + " scale " + scale;
        assertClose(r[1], r[0], 2e-5, "value " + what);
        assertClose(r[3], r[2], 1e-4, "d/dqkv " + what);
      }
    }
  }

  @Test
  void aBadShapeIsRefusedWithTheOpName() {
    assumeTrue(NativeAttention.loaded(), "fused attention kernel not loaded");
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.unknown()));
      Operand<TFloat32> y = NativeAttention.attend(tf, x);
      try (Session s = new Session(g); TFloat32 xt = TFloat32.tensorOf(Shape.of(2, 3, 2, 1, 4))) {
        var e = assertThrows(TFInvalidArgumentException.class, () -> s.runner().feed(x, xt).fetch(y).run().close());
        assertTrue(e.getMessage().contains("LeviathanCausalAttention: qkv must be"), e.getMessage());
      }
    }
  }
}
