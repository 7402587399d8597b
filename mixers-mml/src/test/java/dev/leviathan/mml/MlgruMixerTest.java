package dev.leviathan.mml;

import static dev.leviathan.core.testing.MixerHarness.assertAllClose;
import static dev.leviathan.core.testing.MixerHarness.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.spi.InvalidMixerOptionException;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.RecurrentTokenMixer;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.testing.MixerHarness;
import dev.leviathan.core.testing.StepChecks;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Operand;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

class MlgruMixerTest {
  private static final int C = 8;

  private final MlgruMixer provider = provider();

  /** The registry's provider: the fused recurrence where it is loaded. */
  MlgruMixer provider() {
    return new MlgruMixer();
  }

  /** Every matrix N(0, std^2), every gain 1 + N(0, 0.2^2). */
  static void randomize(MixerHarness h, Random rnd, double std) {
    for (String name : h.parameterNames()) {
      float[] v = h.parameters().get(name);
      for (int i = 0; i < v.length; i++) {
        v[i] = name.startsWith("norm_") ? (float) (1 + rnd.nextGaussian() * 0.2) : (float) (rnd.nextGaussian() * std);
      }
      h.set(name, v);
    }
  }

  /** Gate regimes for the forget gate. */
  enum Gates {
    /** per channel anywhere in [1e-6, 1 - 1e-6], switching with the sign of the control channel */
    MIXED,
    /** all close to 1e-6 */
    NEAR_ZERO,
    /** all close to 1 - 1e-6 */
    NEAR_ONE,
    /** runs of 40 positions near 0 then near 1 (crossing chunk boundaries) per channel */
    RUNS
  }

  /**
   * Inputs and forget-gate weights that drive the gates into a regime: channel 0 of x is a control
   * signal of magnitude 10 (the others are N(0, 0.5^2)) and {@code BL_f} only sees it (gain e_0), so
   * {@code z_f[t, j] = x_n[t, 0] W_f[0, j]} with {@code x_n[t, 0] ≈ ±sqrt(C)}.
   */
  static float[][][] driveForgetGates(MixerHarness h, Random rnd, Gates gates, int b, int t) {
    float[][][] x = randn(rnd, b, t, C, 0.5);
    for (int bi = 0; bi < b; bi++) {
      for (int s = 0; s < t; s++) {
        double sign = switch (gates) {
          case MIXED -> rnd.nextBoolean() ? 1 : -1;
          case NEAR_ZERO, NEAR_ONE -> 1;
          case RUNS -> (s / 40) % 2 == 0 ? 1 : -1;
        };
        x[bi][s][0] = (float) (10 * sign);
      }
    }
    float[] gain = new float[C];
    gain[0] = 1;
    h.set("norm_f", gain);
    float[] w = h.parameters().get("w_f");
    double unit = 13.6 / Math.sqrt(C);
    for (int j = 0; j < C; j++) {
      double target = switch (gates) {
        case MIXED -> j == 0 ? 1 : j == 1 ? -1 : -1 + 2.0 * rnd.nextDouble();
        case NEAR_ZERO -> -1 - 0.002 * j;
        case NEAR_ONE -> 1 + 0.002 * j;
        case RUNS -> j % 2 == 0 ? 1 : -1;
      };
      w[j] = (float) (unit * target);
    }
    h.set("w_f", w);
    return x;
  }

  @Test
  void matchesStepByStepLoopForExtremeGatesAndAnyLength() {
    // context 300: with chunk 64 two levels (300 -> 5 blocks), with 16 three levels, with 1 nine
    for (int chunk : new int[] {64, 16, 1}) {
      try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("quantize", "off", "chunk", chunk), C, 300)) {
        for (Gates gates : Gates.values()) {
          Random rnd = new Random(100 + gates.ordinal());
          randomize(h, rnd, 0.5);
          // when all gates are near 1, h stays ~1e-4: a large output weight makes its relative error visible
          if (gates == Gates.NEAR_ONE) {
            float[] wo = h.parameters().get("w_o");
            for (int i = 0; i < wo.length; i++) {
              wo[i] *= 100;
            }
            h.set("w_o", wo);
          }
          float[][][] x = driveForgetGates(h, rnd, gates, 2, 300);
          Map<String, float[]> p = h.parameters();
          double[] f = Loops.forgetGates(x, p, false);
          double min = 1, max = 0;
          for (double v : f) {
            min = Math.min(min, v);
            max = Math.max(max, v);
          }
          assertTrue(min >= 1e-6 && max <= 1 - 1e-6, gates + ": gates outside [1e-6, 1-1e-6]: " + min + ".." + max);
          if (gates != Gates.NEAR_ONE) {
            assertTrue(min < 1.6e-6, gates + ": smallest gate " + min);
          }
          if (gates != Gates.NEAR_ZERO) {
            assertTrue(max > 1 - 1.6e-6, gates + ": largest gate 1 - " + (1 - max));
          }
          for (int t : new int[] {1, 7, 64, 300}) {
            float[][][] xt = Loops.prefix(x, t);
            float[][][] expected = Loops.mlgru(xt, p, false);
            try {
              assertAllClose(expected, h.run(xt), 1e-5);
            } catch (AssertionError e) {
              throw new AssertionError("chunk " + chunk + ", gates " + gates + ", T " + t + ": " + e.getMessage(), e);
            }
          }
        }
      }
    }
  }

  @Test
  void gradientsStayFiniteWithSaturatedGates() {
    // exp underflows to 0 for long runs of gates near 1e-6; no inf or NaN may reach the gradients
    try (MixerHarness h = MixerHarness.of(provider, Map.of("quantize", "off", "chunk", 16), C, 90)) {
      for (Gates gates : Gates.values()) {
        Random rnd = new Random(300 + gates.ordinal());
        randomize(h, rnd, 0.5);
        float[][][] x = driveForgetGates(h, rnd, gates, 2, 90);
        // no finite-difference coordinates: only the analytic gradients, asserted finite
        h.checkGradients(x, randn(rnd, 2, 90, C, 1.0), 1e-2, 1e-2, 0, 1);
      }
    }
  }

  @Test
  void longSequenceThroughThreeLevelsMatchesLoop() {
    // context 1000, chunk 8: 1000 -> 125 blocks -> 16 -> 2
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("quantize", "off", "chunk", 8, "heads", 2), 4, 1000)) {
      Random rnd = new Random(91);
      randomize(h, rnd, 0.5);
      float[][][] x = randn(rnd, 1, 1000, 4, 1.0);
      assertAllClose(Loops.mlgru(x, h.parameters(), false), h.run(x), 1e-5);
    }
  }

  @Test
  void quantizedMatchesStepByStepLoop() {
    for (int t : new int[] {7, 20}) {
      try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "chunk", 8), C, 20)) {
        // inputs are drawn until no quantiser of the reference sits next to a rounding tie
        float[][][][] result = Loops.awayFromTies(200 + 100 * t, seed -> {
          Random rnd = new Random(seed);
          for (String name : h.parameterNames()) {
            h.set(name, name.startsWith("norm_") ? Loops.gains(rnd, C, 0.2) : Loops.ternarySafeWeights(rnd, C * C, 0.5));
          }
          float[][][] x = randn(rnd, 2, t, C, 1.0);
          return new float[][][][] {x, Loops.mlgru(x, h.parameters(), true)};
        });
        float[][][] x = result[0], expected = result[1];
        assertAllClose(expected, h.run(x), 1e-5);
        // the quantisers are active: the full-precision recurrence gives another result
        float[][][] full = Loops.mlgru(x, h.parameters(), false);
        double diff = 0;
        for (int b = 0; b < 2; b++) {
          for (int s = 0; s < t; s++) {
            for (int j = 0; j < C; j++) {
              diff = Math.max(diff, Math.abs(full[b][s][j] - expected[b][s][j]));
            }
          }
        }
        assertTrue(diff > 1e-3, "quantised and full-precision outputs differ by only " + diff);
      }
    }
  }

  @Test
  void headsAndChunkDoNotChangeTheResult() {
    Random rnd = new Random(31);
    float[][][] x = randn(rnd, 2, 23, C, 1.0);
    float[][][] base = null;
    Map<String, float[]> params = null;
    for (Map<String, Object> options : List.<Map<String, Object>>of(
        Map.of("heads", 1, "chunk", 64), Map.of("heads", 4, "chunk", 5),
        Map.of("heads", 8, "chunk", 2), Map.of("heads", 2, "chunk", 23))) {
      Map<String, Object> opts = new java.util.HashMap<>(options);
      opts.put("quantize", "off");
      try (MixerHarness h = MixerHarness.forwardOnly(provider, opts, C, 23)) {
        if (params == null) {
          randomize(h, new Random(32), 0.5);
          params = h.parameters();
          base = h.run(x);
          assertAllClose(Loops.mlgru(x, params, false), base, 1e-5);
        } else {
          params.forEach(h::set);
          assertAllClose(base, h.run(x), 1e-5);
        }
      }
    }
  }

  @Test
  void isCausal() {
    // chunk 3 so that later positions sit in later blocks and in the carried state
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "chunk", 3), C, 10)) {
      randomize(h, new Random(41), 0.5);
      h.assertCausal(randn(new Random(42), 2, 10, C, 1.0), 43);
    }
  }

  @Test
  void fullPrecisionGradientsMatchFiniteDifferences() {
    // chunk 2 with context 5: blocks, carried block states and a second level of carries
    try (MixerHarness h = MixerHarness.of(provider, Map.of("heads", 2, "chunk", 2, "quantize", "off"), 4, 5)) {
      Random rnd = new Random(51);
      randomize(h, rnd, 0.5);
      h.checkGradients(randn(rnd, 2, 5, 4, 1.0), randn(rnd, 2, 5, 4, 1.0), 1e-2, 2e-2, 6, 52);
    }
  }

  /** Builds the mixer, its whole-sequence graph and its one-step graph. */
  private static final class StepGraph implements AutoCloseable {
    final TestGraph g;
    final Placeholder<TFloat32> x;
    final Operand<TFloat32> y;
    final Placeholder<TFloat32> xt;
    final Placeholder<TFloat32> state;
    final RecurrentTokenMixer.Step step;
    final RecurrentTokenMixer mixer;

    StepGraph(MlgruMixer provider, Map<String, ?> options, int context) {
      g = new TestGraph(C, context);
      TokenMixer m = provider.create(g.layer, MixerOptions.resolve(provider, options));
      assertTrue(m instanceof RecurrentTokenMixer, "mlgru offers a step function");
      mixer = (RecurrentTokenMixer) m;
      x = g.placeholder("x", -1, -1, C);
      y = mixer.apply(x);
      xt = g.placeholder("xt", -1, C);
      state = g.placeholder("h", -1, C);
      // mlgru's recurrence does not depend on the absolute position
      step = mixer.step(xt, g.tf.constant(0), List.of(state));
      g.start(61);
    }

    @Override
    public void close() {
      g.close();
    }
  }

  @Test
  void tokenByTokenGenerationEqualsRerunningThePrefix() {
    for (String quantize : new String[] {"off", "on"}) {
      try (StepGraph s = new StepGraph(provider, Map.of("quantize", quantize, "chunk", 4), 12)) {
        int b = 2, t = 11;
        boolean quantized = quantize.equals("on");
        // parameters and inputs are drawn until no quantiser of the reference sits next to a rounding tie
        float[][][][] drawn = Loops.awayFromTies(quantized ? 71 : 72, seed -> {
          Random rnd = new Random(seed);
          for (String name : List.of("w_f", "w_c", "w_g", "w_o")) {
            s.g.set(name, Loops.ternarySafeWeights(rnd, C * C, 0.5));
          }
          for (String name : List.of("norm_f", "norm_c", "norm_g", "norm_o")) {
            s.g.set(name, Loops.gains(rnd, C, 0.2));
          }
          float[][][] in = randn(rnd, b, t, C, 1.0);
          return new float[][][][] {in, Loops.mlgru(in, s.g.parameters(), quantized)};
        });
        float[][][] x = drawn[0], expected = drawn[1];
        float[] h = new float[b * C];
        List<float[]> generated = new ArrayList<>();
        for (int pos = 0; pos < t; pos++) {
          float[] xpos = new float[b * C];
          for (int bi = 0; bi < b; bi++) {
            System.arraycopy(x[bi][pos], 0, xpos, bi * C, C);
          }
          List<float[]> out = s.g.run(
              List.of(new TestGraph.Feed(s.xt, xpos, b, C), new TestGraph.Feed(s.state, h, b, C)),
              List.of(s.step.output(), s.step.state().get(0)));
          generated.add(out.get(0));
          h = out.get(1);
        }
        for (int pos = 0; pos < t; pos++) {
          float[][][] prefix = Loops.prefix(x, pos + 1);
          float[][][] full = TestGraph.unflatten(
              s.g.run(List.of(new TestGraph.Feed(s.x, TestGraph.flatten(prefix), b, pos + 1, C)), List.of(s.y)).get(0),
              b, pos + 1);
          float[][][] last = new float[b][1][];
          float[][][] stepped = new float[b][1][];
          for (int bi = 0; bi < b; bi++) {
            last[bi][0] = full[bi][pos];
            stepped[bi][0] = java.util.Arrays.copyOfRange(generated.get(pos), bi * C, (bi + 1) * C);
          }
          assertAllClose(last, stepped, 1e-5);
        }
        // and the steps follow the loop reference
        for (int pos = 0; pos < t; pos++) {
          for (int bi = 0; bi < b; bi++) {
            for (int j = 0; j < C; j++) {
              double e = expected[bi][pos][j], a = generated.get(pos)[bi * C + j];
              assertTrue(Math.abs(e - a) <= 1e-5 * (1 + Math.abs(e)), "step " + pos + ": " + a + " vs " + e);
            }
          }
        }
      }
    }
  }

  @Test
  void prefillThenStepsMatchApplyAndTheLoopReference() {
    for (String quantize : new String[] {"off", "on"}) {
      // chunk 3, context 12: prompts of 1, 5 and 10 positions end inside or at the edge of scan blocks
      try (StepChecks s = StepChecks.of(provider, Map.of("quantize", quantize, "chunk", 3, "heads", 2), C, 12)) {
        assertEquals(1, s.stateCount());
        assertEquals(Long.MAX_VALUE, s.mixer().positionLimit());
        boolean quantized = quantize.equals("on");
        float[][][][] drawn = Loops.awayFromTies(quantized ? 81 : 82, seed -> {
          Random rnd = new Random(seed);
          for (String name : s.parameterNames()) {
            s.set(name, name.startsWith("norm_") ? Loops.gains(rnd, C, 0.2) : Loops.ternarySafeWeights(rnd, C * C, 0.5));
          }
          float[][][] in = randn(rnd, 3, 11, C, 1.0);
          return new float[][][][] {in, Loops.mlgru(in, s.parameters(), quantized)};
        });
        float[][][] x = drawn[0];
        s.assertMatchesApply(x, 1e-5);
        assertAllClose(drawn[1], s.generate(x, 5).outputs(), 1e-5);
        for (java.util.List<long[]> shapes : s.generate(x, 5).stateShapes()) {
          org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {3, C}, shapes.get(0), "h is [B, C]");
        }
        s.assertStepsIgnoreLaterInputs(x, 2, 83);
      }
    }
  }

  @Test
  void parametersAreFourBitLinearLayers() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of(), C, 4)) {
      assertEquals(List.of("w_f", "norm_f", "w_c", "norm_c", "w_g", "norm_g", "w_o", "norm_o"), h.parameterNames());
      assertEquals(4L * (C * C + C), h.parameterCount());
    }
  }

  @Test
  void rejectsHeadsThatDoNotDivideWidth() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("heads", 3), 8, 4));
    assertEquals("mixer 'mlgru': option 'heads' = 3 is invalid: it must divide the width 8"
        + " (allowed: 1, 2, 4, 8)", e.getMessage());
  }

  @Test
  void rejectsChunkBelowOne() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("chunk", 0), 8, 4));
    assertEquals("mixer 'mlgru': option 'chunk' must be an integer >= 1, got 0", e.getMessage());
  }

  @Test
  void rejectsQuantizeThatIsNotOnOrOff() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("quantize", "ternary"), 8, 4));
    assertEquals("mixer 'mlgru': option 'quantize' must be on|off, got 'ternary'", e.getMessage());
  }

  @Test
  void rejectsUnknownOptions() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("window", 4), 8, 4));
    assertEquals("mixer 'mlgru' has no option 'window' (known options: heads, quantize, chunk)", e.getMessage());
  }
}
