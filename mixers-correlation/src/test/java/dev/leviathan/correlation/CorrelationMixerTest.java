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

class CorrelationMixerTest {
  private final CorrelationMixer provider = new CorrelationMixer();

  /**
   * Scores by the definition: {@code c_tau(t, s) = sum_j q_t[j] k_s[j + tau]} for every lag, then the
   * softmax(theta)-weighted sum or the maximum over lags.
   */
  static Loops.Scores correlationScores(Map<String, float[]> p, int heads, int lags, boolean learned,
      boolean circular) {
    double[][] alpha = learned && lags > 0 ? Loops.softmaxRows(p.get("theta"), heads, 2 * lags + 1) : null;
    return (b, h, q, k) -> {
      int t = q.length, d = q[0].length;
      double[][] score = new double[t][t];
      for (int i = 0; i < t; i++) {
        for (int s = 0; s < t; s++) {
          double sum = 0, best = Double.NEGATIVE_INFINITY;
          for (int tau = -lags; tau <= lags; tau++) {
            double c = 0;
            for (int j = 0; j < d; j++) {
              int idx = j + tau;
              if (circular) {
                idx = Math.floorMod(idx, d);
              } else if (idx < 0 || idx >= d) {
                continue;
              }
              c += q[i][j] * k[s][idx];
            }
            sum += (alpha == null ? 1.0 : alpha[h][tau + lags]) * c;
            best = Math.max(best, c);
          }
          score[i][s] = learned ? sum : best;
        }
      }
      return score;
    };
  }

  /** Plain causal multi-head attention, written out on its own (no shared code with the above). */
  static float[][][] attention(float[][][] x, Map<String, float[]> p, int heads) {
    int bsz = x.length, t = x[0].length, c = x[0][0].length, d = c / heads;
    float[] wqkv = p.get("w_qkv"), bqkv = p.get("b_qkv"), wo = p.get("w_o"), bo = p.get("b_o");
    float[][][] y = new float[bsz][t][c];
    for (int b = 0; b < bsz; b++) {
      double[][] qkv = new double[t][3 * c];
      for (int s = 0; s < t; s++) {
        for (int o = 0; o < 3 * c; o++) {
          double acc = bqkv[o];
          for (int i = 0; i < c; i++) {
            acc += x[b][s][i] * wqkv[i * 3 * c + o];
          }
          qkv[s][o] = acc;
        }
      }
      double[][] merged = new double[t][c];
      for (int h = 0; h < heads; h++) {
        for (int q = 0; q < t; q++) {
          double[] w = new double[q + 1];
          double max = Double.NEGATIVE_INFINITY;
          for (int k = 0; k <= q; k++) {
            double dot = 0;
            for (int j = 0; j < d; j++) {
              dot += qkv[q][h * d + j] * qkv[k][c + h * d + j];
            }
            w[k] = dot / Math.sqrt(d);
            max = Math.max(max, w[k]);
          }
          double sum = 0;
          for (int k = 0; k <= q; k++) {
            w[k] = Math.exp(w[k] - max);
            sum += w[k];
          }
          for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int k = 0; k <= q; k++) {
              acc += w[k] / sum * qkv[k][2 * c + h * d + j];
            }
            merged[q][h * d + j] = acc;
          }
        }
      }
      for (int s = 0; s < t; s++) {
        for (int o = 0; o < c; o++) {
          double acc = bo[o];
          for (int i = 0; i < c; i++) {
            acc += merged[s][i] * wo[i * c + o];
          }
          y[b][s][o] = (float) acc;
        }
      }
    }
    return y;
  }

  @Test
  void matchesLoopReferenceForEveryReduceAndPadding() {
    int[][] headsAndLags = {{1, 3}, {2, 1}, {2, 3}};
    for (String reduce : List.of("learned", "max")) {
      for (String padding : List.of("zero", "circular")) {
        for (int[] hl : headsAndLags) {
          int heads = hl[0], lags = hl[1];
          Map<String, Object> opts = Map.of("heads", heads, "lags", lags, "reduce", reduce, "padding", padding);
          try (MixerHarness h = MixerHarness.forwardOnly(provider, opts, 8, 9)) {
            Random rnd = new Random(31 * heads + lags);
            Loops.randomize(h, rnd, 0.5);
            float[][][] x = randn(rnd, 2, 9, 8, 1.0);
            Map<String, float[]> p = h.parameters();
            boolean learned = reduce.equals("learned");
            float[][][] expected = Loops.mix(x, p, heads, true, true,
                correlationScores(p, heads, lags, learned, padding.equals("circular")));
            assertAllClose(expected, h.run(x), 1e-5);
          }
        }
      }
    }
  }

  @Test
  void matchesLoopReferenceWithoutBiasAndWithShortInput() {
    Map<String, Object> opts = Map.of("heads", 2, "lags", 2, "bias", "off");
    try (MixerHarness h = MixerHarness.forwardOnly(provider, opts, 8, 12)) {
      assertEquals(List.of("w_qkv", "w_o", "theta"), h.parameterNames());
      Random rnd = new Random(2);
      Loops.randomize(h, rnd, 0.5);
      float[][][] x = randn(rnd, 3, 5, 8, 1.0);
      Map<String, float[]> p = h.parameters();
      assertAllClose(Loops.mix(x, p, 2, false, true, correlationScores(p, 2, 2, true, false)), h.run(x), 1e-5);
    }
  }

  @Test
  void withZeroLagsItIsPlainAttention() {
    for (String reduce : List.of("learned", "max")) {
      try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "lags", 0, "reduce", reduce), 8, 7)) {
        assertEquals(List.of("w_qkv", "b_qkv", "w_o", "b_o"), h.parameterNames(), "no theta without lags");
        Random rnd = new Random(9);
        Loops.randomize(h, rnd, 0.5);
        float[][][] x = randn(rnd, 2, 7, 8, 1.0);
        assertAllClose(attention(x, h.parameters(), 2), h.run(x), 1e-5);
      }
    }
  }

  @Test
  void lagsChangeTheOutputAwayFromAttention() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "lags", 1), 8, 7)) {
      Random rnd = new Random(9);
      Loops.randomize(h, rnd, 0.5);
      float[][][] x = randn(rnd, 2, 7, 8, 1.0);
      float[][][] att = attention(x, h.parameters(), 2);
      float[][][] y = h.run(x);
      double maxDiff = 0;
      for (int b = 0; b < 2; b++) {
        for (int t = 1; t < 7; t++) {
          for (int c = 0; c < 8; c++) {
            maxDiff = Math.max(maxDiff, Math.abs(att[b][t][c] - y[b][t][c]));
          }
        }
      }
      assertTrue(maxDiff > 1e-2, "lags must matter, max difference " + maxDiff);
    }
  }

  @Test
  void thetaStartsWithMostWeightOnLagZero() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "lags", 3), 16, 4)) {
      assertArrayEquals(new long[] {2, 7}, h.shape("theta"));
      double[][] alpha = Loops.softmaxRows(h.parameters().get("theta"), 2, 7);
      for (double[] row : alpha) {
        for (int i = 0; i < 7; i++) {
          assertEquals(i == 3 ? 0.95 : 0.05 / 6, row[i], 1e-6, "alpha at lag " + (i - 3));
        }
      }
    }
  }

  @Test
  void isCausal() {
    for (String reduce : List.of("learned", "max")) {
      Map<String, Object> opts = Map.of("heads", 2, "lags", 2, "reduce", reduce, "padding", "circular");
      try (MixerHarness h = MixerHarness.forwardOnly(provider, opts, 8, 10)) {
        Loops.randomize(h, new Random(4), 0.5);
        h.assertCausal(randn(new Random(5), 2, 10, 8, 1.0), 7);
      }
    }
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    for (String reduce : List.of("learned", "max")) {
      Map<String, Object> opts = Map.of("heads", 2, "lags", 1, "reduce", reduce);
      try (MixerHarness h = MixerHarness.of(provider, opts, 6, 5)) {
        Random rnd = new Random(11);
        Loops.randomize(h, rnd, 0.5);
        h.checkGradients(randn(rnd, 2, 5, 6, 1.0), randn(rnd, 2, 5, 6, 1.0), 1e-2, 2e-2, 6, 13);
      }
    }
  }

  @Test
  void everyModelParameterGetsAGradientMatchingFiniteDifferences() {
    ModelConfig config = ModelConfig.builder().vocabSize(7).context(6).width(8).layers(2)
        .tokenMixer(MixerSpec.of("correlation", Map.of("heads", 2, "lags", 1)))
        .channelMixer(MixerSpec.of("mlp")).build();
    try (ModelChecks m = new ModelChecks(TinyTraining.registry(provider), config, 3)) {
      Random rnd = new Random(4);
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
  void rejectsLagsNotBelowTheHeadWidth() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("heads", 2, "lags", 4), 8, 4));
    assertEquals("mixer 'correlation': option 'lags' = 4 is invalid: it must be < the head width D = 4"
        + " (width 8 / heads 2)", e.getMessage());
    assertEquals("lags", e.option());
  }

  @Test
  void rejectsNegativeLagsUnknownChoicesAndBadHeads() {
    InvalidMixerOptionException neg = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("lags", -1), 8, 4));
    assertEquals("mixer 'correlation': option 'lags' must be an integer >= 0, got -1", neg.getMessage());
    InvalidMixerOptionException reduce = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("reduce", "mean"), 8, 4));
    assertEquals("mixer 'correlation': option 'reduce' must be learned|max, got 'mean'", reduce.getMessage());
    InvalidMixerOptionException padding = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("padding", "reflect"), 8, 4));
    assertEquals("mixer 'correlation': option 'padding' must be zero|circular, got 'reflect'", padding.getMessage());
    InvalidMixerOptionException heads = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("heads", 3), 8, 4));
    assertEquals("mixer 'correlation': option 'heads' = 3 is invalid: it must divide the width 8"
        + " (allowed: 1, 2, 4, 8)", heads.getMessage());
  }
}
