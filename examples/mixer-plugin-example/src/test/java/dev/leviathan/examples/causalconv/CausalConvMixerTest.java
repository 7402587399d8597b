package dev.leviathan.examples.causalconv;

import static dev.leviathan.core.testing.MixerHarness.assertAllClose;
import static dev.leviathan.core.testing.MixerHarness.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.spi.InvalidMixerOptionException;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.testing.MixerHarness;
import dev.leviathan.core.testing.TinyTraining;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CausalConvMixerTest {
  private final CausalConvMixer provider = new CausalConvMixer();

  /** Plain loops over t and the taps, in double precision. */
  static float[][][] reference(float[][][] x, Map<String, float[]> p, int kernel, boolean silu, boolean bias) {
    int b = x.length, t = x[0].length, c = x[0][0].length;
    float[] w = p.get("w_conv"), wo = p.get("w_o");
    float[] bConv = bias ? p.get("b_conv") : new float[c];
    float[] bo = bias ? p.get("b_o") : new float[c];
    float[][][] y = new float[b][t][c];
    for (int bi = 0; bi < b; bi++) {
      for (int s = 0; s < t; s++) {
        double[] u = new double[c];
        for (int ch = 0; ch < c; ch++) {
          double acc = bConv[ch];
          for (int j = 0; j < kernel && s - j >= 0; j++) {
            acc += (double) w[j * c + ch] * x[bi][s - j][ch];
          }
          u[ch] = silu ? acc / (1 + Math.exp(-acc)) : acc;
        }
        for (int o = 0; o < c; o++) {
          double acc = bo[o];
          for (int i = 0; i < c; i++) {
            acc += u[i] * wo[i * c + o];
          }
          y[bi][s][o] = (float) acc;
        }
      }
    }
    return y;
  }

  /** Replaces every parameter with N(0, scale^2) values, so biases and the projection matter. */
  private static void randomize(MixerHarness h, Random rnd, double scale) {
    for (String name : h.parameterNames()) {
      float[] v = h.parameters().get(name);
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (rnd.nextGaussian() * scale);
      }
      h.set(name, v);
    }
  }

  @Test
  void matchesLoopReference() {
    for (int kernel : new int[] {1, 3, 6}) {
      try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("kernel", kernel), 6, 10)) {
        assertEquals(List.of("w_conv", "b_conv", "w_o", "b_o"), h.parameterNames());
        assertArrayEquals(new long[] {kernel, 6}, h.shape("w_conv"));
        Random rnd = new Random(kernel);
        randomize(h, rnd, 0.5);
        // T = 9 < context: the mixer must accept any T up to the context.
        float[][][] x = randn(rnd, 2, 9, 6, 1.0);
        assertAllClose(reference(x, h.parameters(), kernel, true, true), h.run(x), 1e-5);
      }
    }
  }

  @Test
  void matchesLoopReferenceWithoutActivationOrBias() {
    Map<String, Object> options = Map.of("kernel", 3, "activation", "none", "bias", "off");
    try (MixerHarness h = MixerHarness.forwardOnly(provider, options, 5, 8)) {
      assertEquals(List.of("w_conv", "w_o"), h.parameterNames());
      Random rnd = new Random(2);
      randomize(h, rnd, 0.5);
      float[][][] x = randn(rnd, 1, 8, 5, 2.0);
      assertAllClose(reference(x, h.parameters(), 3, false, false), h.run(x), 1e-5);
    }
  }

  @Test
  void convolutionWeightsStartUniformWithinTheFanInBound() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("kernel", 4), 16, 8)) {
      float[] w = h.parameters().get("w_conv");
      double max = 0;
      for (float v : w) {
        max = Math.max(max, Math.abs(v));
      }
      assertTrue(max <= 0.5 && max > 0.4, "uniform on +-1/sqrt(4): largest |w| was " + max);
    }
  }

  @Test
  void isCausal() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("kernel", 3), 6, 10)) {
      randomize(h, new Random(4), 0.5);
      h.assertCausal(randn(new Random(5), 2, 10, 6, 1.0), 7);
    }
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    try (MixerHarness h = MixerHarness.of(provider, Map.of("kernel", 3), 4, 5)) {
      Random rnd = new Random(11);
      randomize(h, rnd, 0.5);
      h.checkGradients(randn(rnd, 2, 5, 4, 1.0), randn(rnd, 2, 5, 4, 1.0), 1e-2, 2e-2, 6, 13);
    }
  }

  @Test
  void trainingLowersTheLoss() {
    List<Double> losses = TinyTraining.losses(provider, Map.of("kernel", 4), 16, 150);
    double[] fl = TinyTraining.firstAndLast(losses, 10);
    assertTrue(fl[1] < fl[0] - 0.8, "loss fell from " + fl[0] + " to " + fl[1]);
  }

  @Test
  void rejectsKernelLongerThanTheContext() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("kernel", 9), 4, 8));
    assertEquals("mixer 'causal-conv': option 'kernel' = 9 is invalid: it must be at most the context length 8",
        e.getMessage());
  }

  @Test
  void rejectsKernelBelowOneAndUnknownActivation() {
    InvalidMixerOptionException zero = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("kernel", 0), 4, 8));
    assertEquals("mixer 'causal-conv': option 'kernel' must be an integer >= 1, got 0", zero.getMessage());
    InvalidMixerOptionException relu = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("activation", "relu"), 4, 8));
    assertEquals("mixer 'causal-conv': option 'activation' must be silu|none, got 'relu'", relu.getMessage());
  }

  @Test
  void serviceLoaderFindsTheProviderInThisProject() {
    MixerRegistry r = MixerRegistry.discover();
    assertTrue(r.tokenMixer("causal-conv") instanceof CausalConvMixer);
    assertEquals(LeviathanSpi.VERSION, r.tokenMixer("causal-conv").spiVersion());
    assertTrue(r.tokenMixer("causal-conv").causal());
    String source = r.tokenMixerInfo("causal-conv").source();
    assertTrue(source.contains("mixer-plugin-example"), source);
  }
}
