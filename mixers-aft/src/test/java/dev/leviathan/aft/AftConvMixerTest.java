package dev.leviathan.aft;

import static dev.leviathan.core.testing.MixerHarness.assertAllClose;
import static dev.leviathan.core.testing.MixerHarness.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.spi.InvalidMixerOptionException;
import dev.leviathan.core.testing.MixerHarness;
import dev.leviathan.core.testing.StepChecks;
import dev.leviathan.core.testing.TinyTraining;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class AftConvMixerTest {
  private final AftConvMixer provider = new AftConvMixer();

  /** The re-parameterised kernels w~ [heads][kernel] in double precision. */
  static double[][] kernels(MixerHarness h, int heads, int kernel) {
    return kernels(h.parameters(), heads, kernel);
  }

  static double[][] kernels(Map<String, float[]> p, int heads, int kernel) {
    float[] w = p.get("kernel"), gamma = p.get("gamma"), beta = p.get("beta");
    double[][] out = new double[heads][kernel];
    for (int i = 0; i < heads; i++) {
      double mean = 0;
      for (int d = 0; d < kernel; d++) {
        mean += w[i * kernel + d];
      }
      mean /= kernel;
      double var = 0;
      for (int d = 0; d < kernel; d++) {
        var += Math.pow(w[i * kernel + d] - mean, 2);
      }
      var /= kernel;
      for (int d = 0; d < kernel; d++) {
        out[i][d] = gamma[i] * (w[i * kernel + d] - mean) / Math.sqrt(var + 1e-5) + beta[i];
      }
    }
    return out;
  }

  /** Position t - d carries bias w~_head[d] for d < kernel, 0 further back. */
  private static float[][][] reference(MixerHarness h, int heads, int kernel, float[][][] x) {
    double[][] w = kernels(h, heads, kernel);
    Map<String, float[]> p = h.parameters();
    return AftTesting.reference(x, p.get("w_qkv"), p.get("w_o"), heads,
        (t, u, head) -> t - u < kernel ? w[head][t - u] : 0.0);
  }

  @Test
  void matchesLoopReference() {
    for (int heads : new int[] {1, 2, 4}) {
      for (int kernel : new int[] {1, 3, 12}) {
        try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", heads, "kernel", kernel), 8, 12)) {
          Random rnd = new Random(10 * heads + kernel);
          AftTesting.randomise(h, rnd, 0.7);
          for (int t : new int[] {9, 12}) {
            float[][][] x = randn(rnd, 2, t, 8, 1.0);
            assertAllClose(reference(h, heads, kernel, x), h.run(x), 1e-5);
          }
        }
      }
    }
  }

  @Test
  void parametersAndInitialisationAreAsDocumented() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "kernel", 3), 8, 12)) {
      assertEquals(List.of("w_qkv", "w_o", "kernel", "gamma", "beta"), h.parameterNames());
      assertArrayEquals(new long[] {8, 2 * 8 + 2}, h.shape("w_qkv"));
      assertArrayEquals(new long[] {2, 3}, h.shape("kernel"));
      assertArrayEquals(new float[2], h.parameters().get("gamma"));
      assertArrayEquals(new float[2], h.parameters().get("beta"));
    }
  }

  @Test
  void startsAsAftSimpleWhenEveryChannelIsAHead() {
    // gamma = beta = 0 makes every kernel weight exp(0) = 1; with heads = width the keys are per channel
    try (MixerHarness conv = MixerHarness.forwardOnly(provider, Map.of("heads", 8, "kernel", 4), 8, 12);
        MixerHarness simple = MixerHarness.forwardOnly(new AftSimpleMixer(), Map.of(), 8, 12)) {
      Random rnd = new Random(9);
      AftTesting.randomise(simple, rnd, 0.5);
      AftTesting.copy(simple, conv, "w_qkv", "w_o");
      float[][][] x = randn(rnd, 2, 12, 8, 1.0);
      assertAllClose(simple.run(x), conv.run(x), 1e-6);
      float[] beta = new float[8];
      beta[3] = 1.5f;
      conv.set("beta", beta);
      assertTrue(AftTesting.maxDifference(simple.run(x), conv.run(x)) > 1e-3, "a kernel bias changes the output");
    }
  }

  @Test
  void keysOfMagnitudeFiftyAndBeyondTheFloatRangeOfExpAreExact() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "kernel", 3), 4, 12)) {
      Random rnd = new Random(2);
      AftTesting.randomise(h, rnd, 0.5);
      AftTesting.setKeyColumns(h, 2, 50f);
      for (double[] range : new double[][] {{-1, 1}, {2, 3}, {-3, -2}}) {
        float[][][] x = AftTesting.gridInputs(rnd, 2, 12, 4, range[0], range[1]);
        float[][][] y = h.run(x);
        AftTesting.assertFinite(y);
        assertAllClose(reference(h, 2, 3, x), y, 1e-5);
      }
    }
  }

  @Test
  void isCausal() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "kernel", 4), 8, 12)) {
      Random rnd = new Random(5);
      AftTesting.randomise(h, rnd, 0.5);
      h.assertCausal(randn(rnd, 2, 12, 8, 1.0), 7);
    }
  }

  @Test
  void staysBitExactlyCausalWhenLaterKeysSetANewMaximum() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 4, "kernel", 3), 8, 12)) {
      Random rnd = new Random(6);
      AftTesting.randomise(h, rnd, 0.5);
      AftTesting.scaleKeyColumns(h, 4, 3f);
      h.assertCausal(randn(rnd, 2, 12, 8, 1.0), 8);
    }
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    try (MixerHarness h = MixerHarness.of(provider, Map.of("heads", 2, "kernel", 3), 4, 5)) {
      Random rnd = new Random(11);
      AftTesting.randomise(h, rnd, 0.5);
      h.checkGradients(randn(rnd, 2, 5, 4, 1.0), randn(rnd, 2, 5, 4, 1.0), 1e-2, 2e-2, 6, 13);
    }
  }

  @Test
  void gradientsMatchFiniteDifferencesForKeysBeyondTheFloatRangeOfExp() {
    try (MixerHarness h = MixerHarness.of(provider, Map.of("heads", 2, "kernel", 3), 4, 5)) {
      Random rnd = new Random(12);
      AftTesting.randomise(h, rnd, 0.5);
      AftTesting.setKeyColumns(h, 2, 50f);
      // keys in [100, 150]: exp(k) alone would overflow in the forward and the backward pass
      float[][][] x = AftTesting.gridInputs(rnd, 2, 5, 4, 2, 3);
      h.checkGradients(x, randn(rnd, 2, 5, 4, 1.0), 1e-3, 2e-2, 6, 14);
    }
  }

  @Test
  void trainingLowersTheLoss() {
    double[] fl = TinyTraining.firstAndLast(
        TinyTraining.losses(provider, Map.of("heads", 4, "kernel", 4), 16, 150), 10);
    // the next symbol follows from the previous two: the same model with a position-wise linear map
    // instead of a token mixer gets from 2.57 to 1.90 in this run, so reaching 1.5 needs the mixing
    assertTrue(fl[1] < fl[0] - 0.8 && fl[1] < 1.5, "loss fell from " + fl[0] + " to " + fl[1]);
  }

  @Test
  void rejectsHeadsThatDoNotDivideTheWidthAndKernelsOutsideOneToContext() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("heads", 3, "kernel", 4), 8, 16));
    assertEquals("mixer 'aft-conv': option 'heads' = 3 is invalid: it must divide the width 8"
        + " (allowed: 1, 2, 4, 8)", e.getMessage());
    e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("kernel", 0), 8, 16));
    assertEquals("mixer 'aft-conv': option 'kernel' must be an integer >= 1, got 0", e.getMessage());
    e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("kernel", 17), 8, 16));
    assertEquals("mixer 'aft-conv': option 'kernel' = 17 is invalid: it must be <= the context 16", e.getMessage());
  }

  @Test
  void keysSpreadOverThreeHundredNatsGiveFiniteExactAndBitCausalOutputs() {
    for (int kernel : new int[] {1, 3, 12}) {
      try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 4, "kernel", kernel), 8, 12)) {
        Random rnd = new Random(21 + kernel);
        AftTesting.randomise(h, rnd, 0.5);
        AftTesting.setKeyColumns(h, 4, 50f);
        // keys ramping from -150 to +150 and back, and spikes of +-200 nats over a base of -100
        float[][][] x = AftTesting.wideKeyInputs(rnd, 2, 12, 8, 4);
        float[][][] y = h.run(x);
        AftTesting.assertFinite(y);
        assertAllClose(reference(h, 4, kernel, x), y, 1e-5);
        // the replaced later inputs (std 3) give keys of +-450 nats
        h.assertCausal(x, 22);
      }
    }
  }

  @Test
  void gradientsMatchFiniteDifferencesForKeysSpreadOverThreeHundredNats() {
    AftTesting.checkGradientsAtWideKeys(provider, Map.of("heads", 4, "kernel", 2), 23);
  }

  @Test
  void prefillAndStepsEqualApplyAtEveryPosition() {
    for (int kernel : new int[] {1, 4, 12}) {
      try (StepChecks g = StepChecks.of(provider, Map.of("heads", 4, "kernel", kernel), 8, 12)) {
        assertEquals(Long.MAX_VALUE, g.mixer().positionLimit());
        Random rnd = new Random(25 + kernel);
        AftTesting.randomise(g, rnd, 0.5);
        AftTesting.assertGenerationMatchesApply(g, randn(rnd, 3, 12, 8, 1.0), false);
        AftTesting.setKeyColumns(g, 4, 50f);
        AftTesting.assertGenerationMatchesApply(g, AftTesting.wideKeyInputs(rnd, 3, 12, 8, 4), false);
      }
    }
  }

  @Test
  void stepsGoOnPastTheContextWithTheSameNumbersAsTheEquation() {
    // the kernel depends on the offset only: generation may run past the training context (8)
    try (StepChecks g = StepChecks.of(provider, Map.of("heads", 2, "kernel", 3), 4, 8)) {
      Random rnd = new Random(26);
      AftTesting.randomise(g, rnd, 0.5);
      AftTesting.setKeyColumns(g, 2, 50f);
      float[][][] x = AftTesting.wideKeyInputs(rnd, 2, 20, 4, 2);
      Map<String, float[]> p = g.parameters();
      double[][] w = kernels(p, 2, 3);
      float[][][] expected = AftTesting.reference(x, p.get("w_qkv"), p.get("w_o"), 2,
          (t, u, head) -> t - u < 3 ? w[head][t - u] : 0.0);
      MixerHarness.assertAllClose(expected, g.generate(x, 5).outputs(), 1e-5);
    }
  }
}
