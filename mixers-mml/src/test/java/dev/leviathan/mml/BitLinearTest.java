package dev.leviathan.mml;

import static dev.leviathan.core.testing.MixerHarness.assertAllClose;
import static dev.leviathan.core.testing.MixerHarness.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.testing.MixerHarness;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Operand;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

class BitLinearTest {
  private final BitLinearProbe probe = new BitLinearProbe();

  /**
   * Tokens whose 8-bit codes are known integers {@code k_j} away from rounding ties: since
   * {@code x_n s = x ⊙ gain · 127 / max|x ⊙ gain|}, choosing {@code x_j = a (k_j + d_j) / (127 gain_j)}
   * with one {@code |k_j| = 127, d_j = 0} and {@code |d_j| <= 0.35} elsewhere fixes the codes whatever
   * the amplitude {@code a}. Also one all-zero token and one so small that the 1e-5 absmax floor binds.
   */
  static float[][][] gridTokens(Random rnd, float[] gain, int b, int t) {
    int c = gain.length;
    float[][][] x = new float[b][t][c];
    double[] amplitudes = {0.3, 3.0, 30.0};
    for (int bi = 0; bi < b; bi++) {
      for (int s = 0; s < t; s++) {
        int peak = rnd.nextInt(c);
        double a = amplitudes[rnd.nextInt(amplitudes.length)];
        for (int j = 0; j < c; j++) {
          double k = j == peak ? (rnd.nextBoolean() ? 127 : -127) : rnd.nextInt(253) - 126;
          double d = j == peak ? 0 : (rnd.nextDouble() - 0.5) * 0.7;
          x[bi][s][j] = (float) (a * (k + d) / (127 * gain[j]));
        }
      }
    }
    java.util.Arrays.fill(x[0][1], 0f);
    // max |x_n| = 100 * 1e-5 / 127 < 1e-5, so s = 127 / 1e-5 and x_n s = k + d again
    double tiny = Math.sqrt(1e-5) * 1e-5 / 127;
    for (int j = 0; j < c; j++) {
      double k = rnd.nextInt(201) - 100;
      double d = (rnd.nextDouble() - 0.5) * 0.7;
      x[b - 1][t - 1][j] = (float) (tiny * (k + d) / gain[j]);
    }
    return x;
  }

  static float[][][] reference(float[][][] x, Map<String, float[]> p, int out, boolean quantize) {
    float[][][] y = new float[x.length][x[0].length][out];
    for (int b = 0; b < x.length; b++) {
      for (int t = 0; t < x[b].length; t++) {
        double[] v = Loops.bitLinear(Loops.toDouble(x[b][t]), p.get("w_p"), p.get("norm_p"), out, quantize);
        for (int o = 0; o < out; o++) {
          y[b][t][o] = (float) v[o];
        }
      }
    }
    return y;
  }

  @Test
  void quantizedForwardMatchesLoopReference() {
    try (MixerHarness h = MixerHarness.forwardOnly(probe, Map.of(), 8, 6)) {
      assertEquals(List.of("w_p", "norm_p"), h.parameterNames());
      Random rnd = new Random(21);
      float[] gain = Loops.gains(rnd, 8, 0.3);
      h.set("norm_p", gain);
      h.set("w_p", Loops.ternarySafeWeights(rnd, 8 * 8, 0.4));
      float[][][] x = gridTokens(rnd, gain, 2, 6);
      float[][][] expected = reference(x, h.parameters(), 8, true);
      assertAllClose(expected, h.run(x), 1e-5);
      // the quantiser matters: the full-precision result is far from the quantised one
      float[][][] full = reference(x, h.parameters(), 8, false);
      double diff = 0;
      for (int b = 0; b < 2; b++) {
        for (int t = 0; t < 6; t++) {
          for (int o = 0; o < 8; o++) {
            diff = Math.max(diff, Math.abs(full[b][t][o] - expected[b][t][o]));
          }
        }
      }
      assertTrue(diff > 1e-2, "quantised and full-precision outputs differ by only " + diff);
    }
  }

  @Test
  void fullPrecisionForwardMatchesLoopReference() {
    try (MixerHarness h = MixerHarness.forwardOnly(probe, Map.of("quantize", "off"), 7, 5)) {
      Random rnd = new Random(22);
      h.set("norm_p", Loops.gains(rnd, 7, 0.3));
      float[] w = new float[49];
      for (int i = 0; i < w.length; i++) {
        w[i] = (float) (rnd.nextGaussian() * 0.7);
      }
      h.set("w_p", w);
      float[][][] x = randn(rnd, 2, 5, 7, 2.0);
      assertAllClose(reference(x, h.parameters(), 7, false), h.run(x), 1e-5);
    }
  }

  /**
   * The straight-through estimator, checked bit for bit: the gradient that reaches the latent weight
   * {@code W} equals the gradient arriving at the quantised weight {@code W~} (the upstream gradient of
   * the matmul's weight input), and that is exactly the gradient a plain linear layer holding the
   * ternary weights receives for the same input {@code x~} and the same upstream gradient. Likewise
   * the gradient reaching the normalised activations equals the one arriving at their quantised form.
   */
  @Test
  void straightThroughGradientsReachLatentWeightsUnchanged() {
    int in = 6, out = 5, tokens = 7;
    try (TestGraph g = new TestGraph(in, 4)) {
      BitLinear bl = new BitLinear(g.layer.tf(), g.layer.params(), "p", in, out, true, false);
      Placeholder<TFloat32> x = g.placeholder("x", -1, in);
      Placeholder<TFloat32> r = g.placeholder("r", -1, out);
      Operand<TFloat32> xn = bl.normalize(x);
      Operand<TFloat32> xt = bl.quantizeActivations(xn);
      Operand<TFloat32> wt = bl.effectiveWeight();
      Operand<TFloat32> loss = g.tf.sum(g.tf.math.mul(Layers.linear(g.tf, xt, wt, null), r), g.tf.constant(new int[] {0, 1}));
      Gradients grads = g.tf.gradients(loss, List.of(bl.latentWeight(), wt, xn, xt, bl.gain()));
      // the same, through the public apply()
      Operand<TFloat32> lossApply = g.tf.sum(g.tf.math.mul(bl.apply(x), r), g.tf.constant(new int[] {0, 1}));
      Operand<TFloat32> gradApply = g.tf.gradients(lossApply, List.of(bl.latentWeight())).dy(0);
      // a plain linear layer y = xq Wp with the ternary weights fed in
      Placeholder<TFloat32> xq = g.placeholder("xq", -1, in);
      Placeholder<TFloat32> wp = g.placeholder("wp", in, out);
      Operand<TFloat32> lossPlain = g.tf.sum(g.tf.math.mul(g.tf.linalg.matMul(xq, wp), r), g.tf.constant(new int[] {0, 1}));
      Operand<TFloat32> gradPlain = g.tf.gradients(lossPlain, List.of(wp)).dy(0);
      BitLinear.QuantizedWeight q = bl.quantizedWeight();
      g.start(5);

      Random rnd = new Random(23);
      g.set("w_p", Loops.ternarySafeWeights(rnd, in * out, 0.3));
      float[] gain = Loops.gains(rnd, in, 0.3);
      g.set("norm_p", gain);
      float[][][] grid = gridTokens(rnd, gain, 1, tokens);
      float[] xv = TestGraph.flatten(grid);
      float[] rv = new float[tokens * out];
      for (int i = 0; i < rv.length; i++) {
        rv[i] = (float) rnd.nextGaussian();
      }
      List<TestGraph.Feed> feeds = List.of(new TestGraph.Feed(x, xv, tokens, in), new TestGraph.Feed(r, rv, tokens, out));
      List<float[]> v = g.run(feeds, List.of(grads.dy(0), grads.dy(1), grads.dy(2), grads.dy(3), gradApply,
          xt, xn, q.ternary(), q.scale(), grads.dy(4), bl.apply(x)));
      float[] dLatent = v.get(0), dEffective = v.get(1), dNormalised = v.get(2), dQuantised = v.get(3);
      float[] dApply = v.get(4), xtv = v.get(5), xnv = v.get(6), ternary = v.get(7);
      float scale = v.get(8)[0];

      // forward of a layer with in != out on rank-2 input
      assertAllClose(reference(grid, g.parameters(), out, true), TestGraph.unflatten(v.get(10), 1, tokens), 1e-5);

      assertBitwiseEqual(dEffective, dLatent, "dL/dW vs dL/dW~");
      assertBitwiseEqual(dQuantised, dNormalised, "dL/dx_n vs dL/dx~");
      assertBitwiseEqual(dLatent, dApply, "dL/dW through apply()");

      float[] wq = new float[ternary.length];
      for (int i = 0; i < wq.length; i++) {
        assertTrue(ternary[i] == -1f || ternary[i] == 0f || ternary[i] == 1f, "ternary value " + ternary[i]);
        wq[i] = ternary[i] * scale;
      }
      float[] plain = g.run(List.of(new TestGraph.Feed(xq, xtv, tokens, in), new TestGraph.Feed(wp, wq, in, out),
          new TestGraph.Feed(r, rv, tokens, out)), List.of(gradPlain)).get(0);
      assertBitwiseEqual(plain, dLatent, "dL/dW vs a plain linear layer with the ternary weights");

      // the layer really quantises its input: x~ s is an integer per token (s from x_n) and x~ != x_n
      boolean differs = false;
      for (int t = 0; t < tokens; t++) {
        double absmax = 0;
        for (int j = 0; j < in; j++) {
          absmax = Math.max(absmax, Math.abs(xnv[t * in + j]));
        }
        double s = 127 / Math.max(absmax, 1e-5);
        for (int j = 0; j < in; j++) {
          double code = xtv[t * in + j] * s;
          assertEquals(Math.rint(code), code, 1e-3, "x~ is not on the 8-bit grid");
          differs |= xtv[t * in + j] != xnv[t * in + j];
        }
      }
      assertTrue(differs, "quantised activations equal the normalised ones");
      boolean nonZero = false;
      for (float f : dLatent) {
        nonZero |= f != 0f;
      }
      assertTrue(nonZero, "latent weight gradient is zero");
      // the gain sits before the quantiser and is trained through it
      boolean gainGradient = false;
      for (float f : v.get(9)) {
        assertTrue(Float.isFinite(f));
        gainGradient |= f != 0f;
      }
      assertTrue(gainGradient, "gain gradient is zero");
    }
  }

  @Test
  void exportedTernaryWeightsMatchTheForwardPassAndTheJvmQuantiser() {
    int in = 8, out = 6;
    try (TestGraph g = new TestGraph(in, 4)) {
      BitLinear bl = new BitLinear(g.layer.tf(), g.layer.params(), "p", in, out, true, false);
      BitLinear.QuantizedWeight q = bl.quantizedWeight();
      g.start(6);
      Random rnd = new Random(24);
      float[] w = Loops.ternarySafeWeights(rnd, in * out, 0.02);
      g.set("w_p", w);
      List<float[]> v = g.run(List.of(), List.of(q.ternary(), q.scale(), bl.effectiveWeight()));
      float[] ternary = v.get(0), effective = v.get(2);
      float scale = v.get(1)[0];
      double expectedScale = Loops.ternaryScale(w);
      assertEquals(expectedScale, scale, 1e-6 * expectedScale);
      BitLinear.Ternary jvm = BitLinear.ternarize(w);
      assertEquals(scale, jvm.scale(), 2 * Math.ulp(scale));
      int zeros = 0;
      for (int i = 0; i < w.length; i++) {
        double t = Math.max(-1, Math.min(1, Math.rint(w[i] / expectedScale)));
        assertEquals(t, ternary[i], 0.0, "ternary value " + i);
        assertEquals(t * jvm.scale(), jvm.values()[i], 0.0, "JVM ternary value " + i);
        assertEquals(ternary[i] * scale, effective[i], 1e-6 * scale, "forward weight " + i);
        zeros += t == 0 ? 1 : 0;
      }
      assertTrue(zeros > 0 && zeros < w.length, "expected a mix of zero and non-zero ternary weights");
      // the packed form of the JVM quantiser round-trips
      byte[] packed = TernaryPacking.pack(jvm.values(), jvm.scale());
      assertEquals(8 + (in * out + 3) / 4, packed.length);
      float[] back = TernaryPacking.unpack(packed);
      for (int i = 0; i < back.length; i++) {
        assertEquals(Float.floatToIntBits(jvm.values()[i]), Float.floatToIntBits(back[i]));
      }
    }
  }

  @Test
  void allZeroWeightsUseTheScaleFloor() {
    BitLinear.Ternary t = BitLinear.ternarize(new float[12]);
    assertEquals(BitLinear.QUANT_EPS, t.scale());
    for (float v : t.values()) {
      assertEquals(0, Float.floatToIntBits(v));
    }
    assertThrows(IllegalArgumentException.class, () -> BitLinear.ternarize(new float[] {1f, Float.NaN}));
  }

  @Test
  void fullPrecisionGradientsMatchFiniteDifferences() {
    try (MixerHarness h = MixerHarness.of(probe, Map.of("quantize", "off"), 4, 3)) {
      Random rnd = new Random(25);
      h.set("norm_p", Loops.gains(rnd, 4, 0.3));
      float[] w = new float[16];
      for (int i = 0; i < w.length; i++) {
        w[i] = (float) (rnd.nextGaussian() * 0.5);
      }
      h.set("w_p", w);
      h.checkGradients(randn(rnd, 2, 3, 4, 1.0), randn(rnd, 2, 3, 4, 1.0), 1e-2, 2e-2, 8, 26);
    }
  }

  @Test
  void rejectsEmptyWidths() {
    try (TestGraph g = new TestGraph(4, 4)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> new BitLinear(g.layer.tf(), g.layer.params(), "p", 4, 0, true, false));
      assertTrue(e.getMessage().contains("'p'"), e.getMessage());
    }
  }

  static void assertBitwiseEqual(float[] expected, float[] actual, String what) {
    assertEquals(expected.length, actual.length, what + ": length");
    for (int i = 0; i < expected.length; i++) {
      assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(actual[i]),
          what + ": element " + i + " is " + actual[i] + ", expected exactly " + expected[i]);
    }
  }
}
