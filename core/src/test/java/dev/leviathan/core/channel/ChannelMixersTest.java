package dev.leviathan.core.channel;

import static dev.leviathan.core.testing.MixerHarness.assertAllClose;
import static dev.leviathan.core.testing.MixerHarness.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.leviathan.core.testing.MixerHarness;
import java.util.Map;
import java.util.Random;
import org.apache.commons.math3.special.Erf;
import org.junit.jupiter.api.Test;

class ChannelMixersTest {
  static double[] matvec(float[] row, float[] w, int in, int out, float[] bias) {
    double[] y = new double[out];
    for (int o = 0; o < out; o++) {
      double acc = bias == null ? 0 : bias[o];
      for (int i = 0; i < in; i++) {
        acc += row[i] * (double) w[i * out + o];
      }
      y[o] = acc;
    }
    return y;
  }

  static float[] toFloat(double[] d) {
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) {
      f[i] = (float) d[i];
    }
    return f;
  }

  static void randomise(MixerHarness h, long seed) {
    Random rnd = new Random(seed);
    for (String name : h.parameterNames()) {
      float[] v = h.parameters().get(name);
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (rnd.nextGaussian() * 0.4);
      }
      h.set(name, v);
    }
  }

  @Test
  void mlpMatchesLoopReference() {
    int c = 6;
    try (MixerHarness h = MixerHarness.forwardOnly(new MlpChannelMixer(), Map.of(), c, 4)) {
      randomise(h, 1);
      Map<String, float[]> p = h.parameters();
      float[][][] x = randn(new Random(2), 2, 4, c, 1.0);
      float[][][] expected = new float[2][4][];
      for (int b = 0; b < 2; b++) {
        for (int t = 0; t < 4; t++) {
          double[] hid = matvec(x[b][t], p.get("w1"), c, 4 * c, p.get("b1"));
          for (int i = 0; i < hid.length; i++) {
            hid[i] = 0.5 * hid[i] * (1 + erf(hid[i] / Math.sqrt(2)));
          }
          expected[b][t] = toFloat(matvec(toFloat(hid), p.get("w2"), 4 * c, c, p.get("b2")));
        }
      }
      assertAllClose(expected, h.run(x), 1e-5);
    }
  }

  @Test
  void swigluMatchesLoopReference() {
    int c = 6;
    assertEquals(256, SwiGluChannelMixer.defaultHidden(6));
    assertEquals(512, SwiGluChannelMixer.defaultHidden(128));
    try (MixerHarness h = MixerHarness.forwardOnly(new SwiGluChannelMixer(), Map.of("hidden", 10), c, 4)) {
      randomise(h, 3);
      Map<String, float[]> p = h.parameters();
      float[][][] x = randn(new Random(4), 2, 3, c, 1.0);
      float[][][] expected = new float[2][3][];
      for (int b = 0; b < 2; b++) {
        for (int t = 0; t < 3; t++) {
          double[] g = matvec(x[b][t], p.get("w_gate"), c, 10, null);
          double[] u = matvec(x[b][t], p.get("w_up"), c, 10, null);
          double[] hid = new double[10];
          for (int i = 0; i < 10; i++) {
            hid[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
          }
          expected[b][t] = toFloat(matvec(toFloat(hid), p.get("w_down"), 10, c, null));
        }
      }
      assertAllClose(expected, h.run(x), 1e-5);
    }
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    for (var provider : new dev.leviathan.core.spi.ChannelMixerProvider[] {new MlpChannelMixer(), new SwiGluChannelMixer()}) {
      Map<String, Object> opts = provider instanceof SwiGluChannelMixer ? Map.of("hidden", 8) : Map.of();
      try (MixerHarness h = MixerHarness.of(provider, opts, 4, 3)) {
        randomise(h, 5);
        Random rnd = new Random(6);
        h.checkGradients(randn(rnd, 2, 3, 4, 1.0), randn(rnd, 2, 3, 4, 1.0), 1e-2, 2e-2, 6, 7);
      }
    }
  }

  /** Abramowitz-Stegun 7.1.26 is too coarse for 1e-5; use a series/continued fraction in double. */
  static double erf(double x) {
    return Erf.erf(x);
  }
}
