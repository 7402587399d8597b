package dev.leviathan.correlation;

import static dev.leviathan.core.testing.MixerHarness.assertAllClose;
import static dev.leviathan.core.testing.MixerHarness.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.spi.InvalidMixerOptionException;
import dev.leviathan.core.testing.MixerHarness;
import dev.leviathan.core.testing.ModelChecks;
import dev.leviathan.core.testing.TinyTraining;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CorrelationTimeMixerTest {
  private final CorrelationTimeMixer provider = new CorrelationTimeMixer();

  /** Scores by the definition: {@code sum_{tau=0..L} beta_tau (q_t . k_{s - tau})}, keys before 0 absent. */
  static Loops.Scores timeScores(Map<String, float[]> p, int lags) {
    float[] beta = p.get("beta");
    return (b, h, q, k) -> {
      int t = q.length, d = q[0].length;
      double[][] score = new double[t][t];
      for (int i = 0; i < t; i++) {
        for (int s = 0; s < t; s++) {
          double sum = 0;
          for (int tau = 0; tau <= lags; tau++) {
            if (s - tau < 0) {
              continue;
            }
            double dot = 0;
            for (int j = 0; j < d; j++) {
              dot += q[i][j] * k[s - tau][j];
            }
            sum += beta[h * (lags + 1) + tau] * dot;
          }
          score[i][s] = sum;
        }
      }
      return score;
    };
  }

  @Test
  void matchesLoopReference() {
    int[][] headsAndLags = {{1, 0}, {2, 1}, {2, 3}, {4, 2}};
    for (int[] hl : headsAndLags) {
      int heads = hl[0], lags = hl[1];
      try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", heads, "lags", lags), 8, 9)) {
        Random rnd = new Random(17 * heads + lags);
        Loops.randomize(h, rnd, 0.5);
        float[][][] x = randn(rnd, 2, 9, 8, 1.0);
        Map<String, float[]> p = h.parameters();
        assertAllClose(Loops.mix(x, p, heads, true, true, timeScores(p, lags)), h.run(x), 1e-5);
      }
    }
  }

  @Test
  void matchesLoopReferenceWithoutBiasWhenTheInputIsShorterThanTheLags() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "lags", 4, "bias", "off"), 8, 10)) {
      assertEquals(List.of("w_qkv", "w_o", "beta"), h.parameterNames());
      Random rnd = new Random(8);
      Loops.randomize(h, rnd, 0.5);
      for (int t : new int[] {3, 10}) {
        float[][][] x = randn(rnd, 2, t, 8, 1.0);
        Map<String, float[]> p = h.parameters();
        assertAllClose(Loops.mix(x, p, 2, false, true, timeScores(p, 4)), h.run(x), 1e-5);
      }
    }
  }

  @Test
  void betaStartsAtTheCurrentKeyOnly() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "lags", 2), 8, 6)) {
      assertArrayEquals(new long[] {2, 3}, h.shape("beta"));
      assertArrayEquals(new float[] {1, 0, 0, 1, 0, 0}, h.parameters().get("beta"));
      // at init it is plain attention: the attention reference with the same projections agrees
      Random rnd = new Random(1);
      for (String name : List.of("w_qkv", "b_qkv", "w_o", "b_o")) {
        float[] v = h.parameters().get(name);
        for (int i = 0; i < v.length; i++) {
          v[i] = (float) (rnd.nextGaussian() * 0.5);
        }
        h.set(name, v);
      }
      float[][][] x = randn(rnd, 2, 6, 8, 1.0);
      assertAllClose(CorrelationMixerTest.attention(x, h.parameters(), 2), h.run(x), 1e-5);
    }
  }

  @Test
  void isCausal() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "lags", 3), 8, 10)) {
      Loops.randomize(h, new Random(4), 0.5);
      h.assertCausal(randn(new Random(5), 2, 10, 8, 1.0), 7);
    }
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    try (MixerHarness h = MixerHarness.of(provider, Map.of("heads", 2, "lags", 2), 6, 5)) {
      Random rnd = new Random(12);
      Loops.randomize(h, rnd, 0.5);
      h.checkGradients(randn(rnd, 2, 5, 6, 1.0), randn(rnd, 2, 5, 6, 1.0), 1e-2, 2e-2, 6, 13);
    }
  }

  @Test
  void everyModelParameterGetsAGradientMatchingFiniteDifferences() {
    ModelConfig config = ModelConfig.builder().vocabSize(7).context(6).width(8).layers(2)
        .tokenMixer(MixerSpec.of("correlation-time", Map.of("heads", 2, "lags", 2)))
        .channelMixer(MixerSpec.of("mlp")).build();
    try (ModelChecks m = new ModelChecks(TinyTraining.registry(provider), config, 3)) {
      Random rnd = new Random(6);
      m.perturbParameters(rnd, 0.3);
      m.checkGradients(m.randomTokens(rnd, 2, 6), m.randomTokens(rnd, 2, 6), 1e-2, 3e-2, 3, 5);
    }
  }

  @Test
  void trainingLowersTheLoss() {
    List<Double> losses = TinyTraining.losses(provider, Map.of("heads", 2), 16, 150);
    double[] fl = TinyTraining.firstAndLast(losses, 10);
    assertTrue(fl[1] < fl[0] - 0.8, "loss fell from " + fl[0] + " to " + fl[1]);
  }

  @Test
  void rejectsLagsNotBelowTheContextAndBadHeads() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("heads", 2, "lags", 6), 8, 6));
    assertEquals("mixer 'correlation-time': option 'lags' = 6 is invalid: it must be < the context 6", e.getMessage());
    assertEquals("lags", e.option());
    InvalidMixerOptionException neg = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("lags", -2), 8, 6));
    assertEquals("mixer 'correlation-time': option 'lags' must be an integer >= 0, got -2", neg.getMessage());
    InvalidMixerOptionException heads = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("heads", 3), 8, 6));
    assertEquals("mixer 'correlation-time': option 'heads' = 3 is invalid: it must divide the width 8"
        + " (allowed: 1, 2, 4, 8)", heads.getMessage());
  }
}
