package dev.leviathan.correlation;

import dev.leviathan.core.testing.MixerHarness;
import java.util.Map;
import java.util.Random;

/**
 * Slow, double-precision loop references shared by the correlation mixer tests: the q/k/v projection,
 * a score function per (batch, head), softmax over the allowed keys, the value sum and the output
 * projection, all written as plain loops over t and s.
 */
final class Loops {
  private Loops() {}

  /** Raw scores {@code [T][T]} of one (batch, head), before the {@code 1/sqrt(D)} scale and the mask. */
  interface Scores {
    double[][] of(int batch, int head, double[][] q, double[][] k);
  }

  /** {@code x W + b} for one sequence {@code x [T][in]}, {@code W [in, out]} row-major. */
  static double[][] linear(float[][] x, float[] w, float[] b, int out) {
    int in = x[0].length;
    double[][] y = new double[x.length][out];
    for (int s = 0; s < x.length; s++) {
      for (int o = 0; o < out; o++) {
        double acc = b == null ? 0 : b[o];
        for (int i = 0; i < in; i++) {
          acc += x[s][i] * (double) w[i * out + o];
        }
        y[s][o] = acc;
      }
    }
    return y;
  }

  /** Columns {@code [from, from + d)} of {@code m}. */
  static double[][] columns(double[][] m, int from, int d) {
    double[][] out = new double[m.length][d];
    for (int s = 0; s < m.length; s++) {
      System.arraycopy(m[s], from, out[s], 0, d);
    }
    return out;
  }

  /**
   * The whole mixer: {@code q, k, v = x W_qkv + b_qkv}, per head {@code A = softmax(scores / sqrt(D))}
   * over {@code s <= t} when {@code causal} (else over all s), {@code y = merge(A v) W_o + b_o}.
   */
  static float[][][] mix(float[][][] x, Map<String, float[]> p, int heads, boolean bias, boolean causal,
      Scores scores) {
    double[][][] y = mixDouble(x, p, heads, bias, causal, scores);
    float[][][] out = new float[y.length][y[0].length][y[0][0].length];
    for (int b = 0; b < y.length; b++) {
      for (int t = 0; t < y[b].length; t++) {
        for (int c = 0; c < y[b][t].length; c++) {
          out[b][t][c] = (float) y[b][t][c];
        }
      }
    }
    return out;
  }

  /** {@link #mix} without rounding the result to float. */
  static double[][][] mixDouble(float[][][] x, Map<String, float[]> p, int heads, boolean bias, boolean causal,
      Scores scores) {
    int bsz = x.length, t = x[0].length, c = x[0][0].length, d = c / heads;
    double[][][] y = new double[bsz][t][c];
    for (int b = 0; b < bsz; b++) {
      double[][] qkv = linear(x[b], p.get("w_qkv"), bias ? p.get("b_qkv") : null, 3 * c);
      double[][] merged = new double[t][c];
      for (int h = 0; h < heads; h++) {
        double[][] q = columns(qkv, h * d, d);
        double[][] k = columns(qkv, c + h * d, d);
        double[][] v = columns(qkv, 2 * c + h * d, d);
        double[][] raw = scores.of(b, h, q, k);
        for (int i = 0; i < t; i++) {
          int n = causal ? i + 1 : t;
          double[] a = new double[n];
          double max = Double.NEGATIVE_INFINITY;
          for (int s = 0; s < n; s++) {
            a[s] = raw[i][s] / Math.sqrt(d);
            max = Math.max(max, a[s]);
          }
          double sum = 0;
          for (int s = 0; s < n; s++) {
            a[s] = Math.exp(a[s] - max);
            sum += a[s];
          }
          for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int s = 0; s < n; s++) {
              acc += a[s] / sum * v[s][j];
            }
            merged[i][h * d + j] = acc;
          }
        }
      }
      float[] wo = p.get("w_o");
      float[] bo = bias ? p.get("b_o") : null;
      for (int i = 0; i < t; i++) {
        for (int o = 0; o < c; o++) {
          double acc = bo == null ? 0 : bo[o];
          for (int j = 0; j < c; j++) {
            acc += merged[i][j] * wo[j * c + o];
          }
          y[b][i][o] = acc;
        }
      }
    }
    return y;
  }

  /** Replaces every parameter with N(0, std^2) values (well above the 0.02 init). */
  static void randomize(MixerHarness h, Random rnd, double std) {
    for (String name : h.parameterNames()) {
      float[] v = h.parameters().get(name);
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (rnd.nextGaussian() * std);
      }
      h.set(name, v);
    }
  }

  /** Row-wise softmax of a row-major {@code [rows, cols]} matrix. */
  static double[][] softmaxRows(float[] logits, int rows, int cols) {
    double[][] out = new double[rows][cols];
    for (int r = 0; r < rows; r++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int i = 0; i < cols; i++) {
        max = Math.max(max, logits[r * cols + i]);
      }
      double sum = 0;
      for (int i = 0; i < cols; i++) {
        out[r][i] = Math.exp(logits[r * cols + i] - max);
        sum += out[r][i];
      }
      for (int i = 0; i < cols; i++) {
        out[r][i] /= sum;
      }
    }
    return out;
  }
}
