package dev.leviathan.attention;

import static dev.leviathan.core.testing.MixerHarness.assertAllClose;
import static dev.leviathan.core.testing.MixerHarness.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.spi.InvalidMixerOptionException;
import dev.leviathan.core.testing.MixerHarness;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class AttentionMixerTest {
  private final AttentionMixer provider = provider();

  /** The provider under test: the one the registry loads (the fused kernel where it is loaded). */
  AttentionMixer provider() {
    return new AttentionMixer();
  }

  /** Plain-loop causal multi-head attention, in double precision. */
  static float[][][] reference(float[][][] x, Map<String, float[]> p, int heads, boolean bias) {
    int b = x.length, t = x[0].length, c = x[0][0].length, d = c / heads;
    float[] wqkv = p.get("w_qkv"), wo = p.get("w_o");
    float[] bqkv = bias ? p.get("b_qkv") : new float[3 * c];
    float[] bo = bias ? p.get("b_o") : new float[c];
    float[][][] y = new float[b][t][c];
    for (int bi = 0; bi < b; bi++) {
      double[][] qkv = new double[t][3 * c];
      for (int s = 0; s < t; s++) {
        for (int o = 0; o < 3 * c; o++) {
          double acc = bqkv[o];
          for (int i = 0; i < c; i++) {
            acc += x[bi][s][i] * wqkv[i * 3 * c + o];
          }
          qkv[s][o] = acc;
        }
      }
      double[][] merged = new double[t][c];
      for (int h = 0; h < heads; h++) {
        for (int q = 0; q < t; q++) {
          double[] score = new double[q + 1];
          double max = Double.NEGATIVE_INFINITY;
          for (int k = 0; k <= q; k++) {
            double dot = 0;
            for (int j = 0; j < d; j++) {
              dot += qkv[q][h * d + j] * qkv[k][c + h * d + j];
            }
            score[k] = dot / Math.sqrt(d);
            max = Math.max(max, score[k]);
          }
          double sum = 0;
          for (int k = 0; k <= q; k++) {
            score[k] = Math.exp(score[k] - max);
            sum += score[k];
          }
          for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int k = 0; k <= q; k++) {
              acc += score[k] / sum * qkv[k][2 * c + h * d + j];
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
          y[bi][s][o] = (float) acc;
        }
      }
    }
    return y;
  }

  @Test
  void matchesLoopReference() {
    for (int heads : new int[] {1, 2, 4}) {
      try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", heads), 8, 16)) {
        // larger weights than the 0.02 init so the softmax is far from uniform
        Random rnd = new Random(heads);
        for (String name : h.parameterNames()) {
          float[] v = h.parameters().get(name);
          for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rnd.nextGaussian() * 0.5);
          }
          h.set(name, v);
        }
        float[][][] x = randn(rnd, 2, 11, 8, 1.0);
        assertAllClose(reference(x, h.parameters(), heads, true), h.run(x), 1e-5);
      }
    }
  }

  @Test
  void matchesLoopReferenceWithoutBias() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "bias", "off"), 6, 8)) {
      assertEquals(java.util.List.of("w_qkv", "w_o"), h.parameterNames());
      float[][][] x = randn(new Random(3), 1, 8, 6, 2.0);
      assertAllClose(reference(x, h.parameters(), 2, false), h.run(x), 1e-5);
    }
  }

  @Test
  void isCausal() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2), 8, 12)) {
      h.assertCausal(randn(new Random(5), 2, 12, 8, 1.0), 7);
    }
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    try (MixerHarness h = MixerHarness.of(provider, Map.of("heads", 2), 4, 5)) {
      Random rnd = new Random(11);
      for (String name : h.parameterNames()) {
        float[] v = h.parameters().get(name);
        for (int i = 0; i < v.length; i++) {
          v[i] = (float) (rnd.nextGaussian() * 0.5);
        }
        h.set(name, v);
      }
      h.checkGradients(randn(rnd, 2, 5, 4, 1.0), randn(rnd, 2, 5, 4, 1.0), 1e-2, 2e-2, 6, 13);
    }
  }

  @Test
  void rejectsHeadsThatDoNotDivideWidth() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("heads", 3), 8, 4));
    assertEquals("mixer 'attention': option 'heads' = 3 is invalid: it must divide the width 8"
        + " (allowed: 1, 2, 4, 8)", e.getMessage());
  }

  @Test
  void rejectsDropoutOfOne() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("dropout", 1.0), 8, 4));
    assertTrue(e.getMessage().contains("'dropout'"), e.getMessage());
  }
}
