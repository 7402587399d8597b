package dev.leviathan.aft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.leviathan.core.testing.MixerHarness;
import dev.leviathan.core.testing.StepChecks;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Plain-loop AFT reference in double precision and parameter helpers shared by the AFT tests. */
final class AftTesting {
  private AftTesting() {}

  /**
   * Finite differences of a mixer of width 4 and context 6 whose four key columns are scaled by 50,
   * on inputs that spread the keys over 300 nats.
   */
  static void checkGradientsAtWideKeys(dev.leviathan.core.spi.TokenMixerProvider provider, Map<String, ?> options,
      long seed) {
    try (MixerHarness h = MixerHarness.of(provider, options, 4, 6)) {
      Random rnd = new Random(seed);
      randomise(h, rnd, 0.5);
      setKeyColumns(h, 4, 50f);
      float[][][] x = wideKeyInputs(rnd, 2, 6, 4, 4);
      h.checkGradients(x, MixerHarness.randn(rnd, 2, 6, 4, 1.0), 1e-3, 2e-2, 6, 24);
    }
  }

  /** The position bias {@code w[t, u]} (for {@code u <= t}) seen by key {@code key}. */
  @FunctionalInterface
  interface Bias {
    double at(int t, int u, int key);
  }

  /**
   * The AFT equation with loops over t and t', double precision:
   * {@code q, k, v = x W_qkv} (widths C, {@code keys}, C), channel j uses key {@code j / (C / keys)},
   * {@code y_t = sigmoid(q_t) sum_{u<=t} exp(k_u + w[t,u]) v_u / sum_{u<=t} exp(k_u + w[t,u])},
   * {@code out = y W_o}. Exponents are shifted by their row maximum (in double) so any key is exact.
   */
  static float[][][] reference(float[][][] x, float[] wqkv, float[] wo, int keys, Bias bias) {
    int b = x.length, t = x[0].length, c = x[0][0].length;
    int cols = 2 * c + keys;
    int perKey = c / keys;
    float[][][] out = new float[b][t][c];
    for (int bi = 0; bi < b; bi++) {
      double[][] p = new double[t][cols];
      for (int s = 0; s < t; s++) {
        for (int o = 0; o < cols; o++) {
          double acc = 0;
          for (int i = 0; i < c; i++) {
            acc += (double) x[bi][s][i] * wqkv[i * cols + o];
          }
          p[s][o] = acc;
        }
      }
      double[][] y = new double[t][c];
      for (int s = 0; s < t; s++) {
        for (int j = 0; j < c; j++) {
          int key = j / perKey;
          double[] a = new double[s + 1];
          double max = Double.NEGATIVE_INFINITY;
          for (int u = 0; u <= s; u++) {
            a[u] = p[u][c + key] + bias.at(s, u, key);
            max = Math.max(max, a[u]);
          }
          double num = 0, den = 0;
          for (int u = 0; u <= s; u++) {
            double weight = Math.exp(a[u] - max);
            num += weight * p[u][c + keys + j];
            den += weight;
          }
          y[s][j] = num / den / (1 + Math.exp(-p[s][j]));
        }
      }
      for (int s = 0; s < t; s++) {
        for (int o = 0; o < c; o++) {
          double acc = 0;
          for (int i = 0; i < c; i++) {
            acc += y[s][i] * wo[i * c + o];
          }
          out[bi][s][o] = (float) acc;
        }
      }
    }
    return out;
  }

  /** {@code w = U V^T} from the factors {@code pos_u}, {@code pos_v} of a harness. */
  static double[][] factoredBias(MixerHarness h) {
    long[] shape = h.shape("pos_u");
    double[][] u = MixerHarness.matrix(h.parameters().get("pos_u"), shape);
    double[][] v = MixerHarness.matrix(h.parameters().get("pos_v"), shape);
    double[][] w = new double[u.length][v.length];
    for (int t = 0; t < u.length; t++) {
      for (int s = 0; s < v.length; s++) {
        for (int r = 0; r < shape[1]; r++) {
          w[t][s] += u[t][r] * v[s][r];
        }
      }
    }
    return w;
  }

  /** Sets every parameter to N(0, std^2) (larger than the init, so the mixer is far from trivial). */
  static void randomise(MixerHarness h, Random rnd, double std) {
    for (String name : h.parameterNames()) {
      float[] v = h.parameters().get(name);
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (rnd.nextGaussian() * std);
      }
      h.set(name, v);
    }
  }

  /**
   * Replaces the key columns of {@code w_qkv} (C x (2C + keys), keys after the C query columns) by
   * {@code scale} times the first {@code keys} unit vectors: key i of token t is {@code scale x_t[i]}.
   */
  static void setKeyColumns(MixerHarness h, int keys, float scale) {
    float[] w = h.parameters().get("w_qkv");
    int c = h.width;
    int cols = 2 * c + keys;
    for (int i = 0; i < c; i++) {
      for (int k = 0; k < keys; k++) {
        w[i * cols + c + k] = i == k ? scale : 0f;
      }
    }
    h.set("w_qkv", w);
  }

  /** Multiplies the key columns of {@code w_qkv} by {@code factor}. */
  static void scaleKeyColumns(MixerHarness h, int keys, float factor) {
    float[] w = h.parameters().get("w_qkv");
    int c = h.width;
    int cols = 2 * c + keys;
    for (int i = 0; i < c; i++) {
      for (int k = 0; k < keys; k++) {
        w[i * cols + c + k] *= factor;
      }
    }
    h.set("w_qkv", w);
  }

  /**
   * Inputs whose entries are multiples of 1/64 in {@code [low, high]}, so that {@code 50 x} is exact
   * in float32 and keys set by {@link #setKeyColumns} carry no rounding error.
   */
  static float[][][] gridInputs(Random rnd, int b, int t, int c, double low, double high) {
    float[][][] x = new float[b][t][c];
    int lo = (int) Math.ceil(low * 64), hi = (int) Math.floor(high * 64);
    for (float[][] m : x) {
      for (float[] row : m) {
        for (int i = 0; i < c; i++) {
          row[i] = (lo + rnd.nextInt(hi - lo + 1)) / 64f;
        }
      }
    }
    return x;
  }

  /**
   * Inputs (multiples of 1/64, so that {@code 50 x} is exact) for keys set by
   * {@code setKeyColumns(h, keys, 50)} that spread over 300 nats and more within each sequence: key
   * channel {@code i % 3 == 0} ramps from -150 to +150 over time, {@code i % 3 == 1} from +150 to -150,
   * {@code i % 3 == 2} sits near -100 with a spike of +200 in the middle and one of -200 near the end;
   * the other channels are in [-1, 1].
   */
  static float[][][] wideKeyInputs(Random rnd, int b, int t, int c, int keys) {
    float[][][] x = gridInputs(rnd, b, t, c, -1, 1);
    for (int bi = 0; bi < b; bi++) {
      int up = t / 2 + bi % 2;
      int down = Math.max(up + 1, t - 2);
      for (int s = 0; s < t; s++) {
        double ramp = t == 1 ? 0 : -3 + 6.0 * s / (t - 1);
        for (int i = 0; i < keys; i++) {
          double value = switch (i % 3) {
            case 0 -> ramp;
            case 1 -> -ramp;
            default -> s == up ? 4 : s == down ? -4 : -2 + rnd.nextDouble() * 0.25;
          };
          x[bi][s][i] = (float) (Math.round(value * 64) / 64.0);
        }
      }
    }
    return x;
  }

  /** {@link #setKeyColumns} for a step-check graph. */
  static void setKeyColumns(StepChecks s, int keys, float scale) {
    float[] w = s.parameters().get("w_qkv");
    int c = s.width;
    int cols = 2 * c + keys;
    for (int i = 0; i < c; i++) {
      for (int k = 0; k < keys; k++) {
        w[i * cols + c + k] = i == k ? scale : 0f;
      }
    }
    s.set("w_qkv", w);
  }

  /** Sets every parameter of a step-check graph to N(0, std^2), in the order of {@link #randomise}. */
  static void randomise(StepChecks s, Random rnd, double std) {
    for (String name : s.parameterNames()) {
      float[] v = s.parameters().get(name);
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (rnd.nextGaussian() * std);
      }
      s.set(name, v);
    }
  }

  /**
   * Prefill of 1, 3, T/2 and T-1 positions followed by steps gives {@code apply(x)} at every position
   * to 1e-5, the generated outputs ignore later inputs bit for bit, and every state tensor keeps its
   * shape from call to call ({@code growing = false}) or gains one position per step along axis 1
   * ({@code growing = true}).
   */
  static void assertGenerationMatchesApply(StepChecks s, float[][][] x, boolean growing) {
    s.assertMatchesApply(x, 1e-5);
    MixerHarness.assertAllClose(s.apply(x), s.generate(x, 3).outputs(), 1e-5);
    s.assertStepsIgnoreLaterInputs(x, 2, 41);
    List<List<long[]>> shapes = s.generate(x, 1).stateShapes();
    for (int call = 1; call < shapes.size(); call++) {
      for (int i = 0; i < shapes.get(call).size(); i++) {
        long[] expected = shapes.get(call - 1).get(i).clone();
        if (growing) {
          expected[1]++;
        }
        assertArrayEquals(expected, shapes.get(call).get(i), "state " + i + " after step " + call);
      }
    }
  }

  /** Asserts every entry is finite. */
  static void assertFinite(float[][][] y) {
    for (float[][] m : y) {
      for (float[] row : m) {
        for (float f : row) {
          if (!Float.isFinite(f)) {
            throw new AssertionError("non-finite output " + f);
          }
        }
      }
    }
  }

  /** Copies the named parameters from one harness to another. */
  static void copy(MixerHarness from, MixerHarness to, String... names) {
    Map<String, float[]> values = from.parameters();
    for (String n : names) {
      to.set(n, values.get(n));
    }
  }

  /** Largest absolute difference between two arrays. */
  static double maxDifference(float[][][] a, float[][][] b) {
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      for (int j = 0; j < a[i].length; j++) {
        for (int k = 0; k < a[i][j].length; k++) {
          m = Math.max(m, Math.abs(a[i][j][k] - b[i][j][k]));
        }
      }
    }
    return m;
  }
}
