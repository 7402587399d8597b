package dev.leviathan.mml;

import java.util.Map;
import java.util.Random;

/**
 * Slow, obviously-correct references of the matmul-less layers: plain loops in double precision.
 * Quantisers refuse inputs within {@link #TIE_MARGIN} of a rounding tie, where float32 and double
 * could legitimately round differently; a test that trips this must pick other inputs.
 */
final class Loops {
  static final double TIE_MARGIN = 1e-3;

  private Loops() {}

  /** BitLinear on one token {@code x [in]} with row-major {@code w [in, out]} and {@code gain [in]}. */
  static double[] bitLinear(double[] x, float[] w, float[] gain, int out, boolean quantize) {
    int in = x.length;
    double ms = 0;
    for (double v : x) {
      ms += v * v;
    }
    ms /= in;
    double r = 1.0 / Math.sqrt(ms + 1e-5);
    double[] xn = new double[in];
    for (int j = 0; j < in; j++) {
      xn[j] = x[j] * r * gain[j];
    }
    double[] wq = new double[w.length];
    for (int i = 0; i < w.length; i++) {
      wq[i] = w[i];
    }
    if (quantize) {
      double absmax = 0;
      for (double v : xn) {
        absmax = Math.max(absmax, Math.abs(v));
      }
      double s = 127.0 / Math.max(absmax, 1e-5);
      for (int j = 0; j < in; j++) {
        xn[j] = roundClamped(xn[j] * s, -128, 127, "activation") / s;
      }
      double g = ternaryScale(w);
      for (int i = 0; i < w.length; i++) {
        wq[i] = roundClamped(w[i] / g, -1, 1, "weight") * g;
      }
    }
    double[] y = new double[out];
    for (int o = 0; o < out; o++) {
      double acc = 0;
      for (int j = 0; j < in; j++) {
        acc += xn[j] * wq[j * out + o];
      }
      y[o] = acc;
    }
    return y;
  }

  /** {@code max(mean |W|, 1e-5)}. */
  static double ternaryScale(float[] w) {
    double sum = 0;
    for (float v : w) {
      sum += Math.abs(v);
    }
    return Math.max(sum / w.length, 1e-5);
  }

  /**
   * {@code clamp(round(v), lo, hi)} with ties to even; throws {@link NearTie} when {@code v} is so close
   * to a tie that float32 rounding error could pick the other side (and the sides clamp differently).
   */
  static double roundClamped(double v, double lo, double hi, String what) {
    double down = Math.max(lo, Math.min(hi, Math.floor(v)));
    double up = Math.max(lo, Math.min(hi, Math.ceil(v)));
    if (down != up && Math.abs(v - Math.floor(v) - 0.5) < TIE_MARGIN) {
      throw new NearTie("a " + what + " quantiser input (" + v + ") lies next to a rounding tie");
    }
    return Math.max(lo, Math.min(hi, Math.rint(v)));
  }

  /** Test inputs that put a quantiser next to a rounding tie, where the reference is not decisive. */
  static final class NearTie extends RuntimeException {
    NearTie(String message) {
      super(message);
    }
  }

  /**
   * Runs {@code attempt(seed)} for seeds {@code first, first + 1, ...} until one draws inputs with no
   * quantiser next to a rounding tie; fails after 20 tries.
   */
  static <T> T awayFromTies(long first, java.util.function.LongFunction<T> attempt) {
    NearTie last = null;
    for (long seed = first; seed < first + 20; seed++) {
      try {
        return attempt.apply(seed);
      } catch (NearTie e) {
        last = e;
      }
    }
    throw new AssertionError("every drawn input lies next to a rounding tie: " + last.getMessage(), last);
  }

  static double sigmoid(double z) {
    return 1.0 / (1.0 + Math.exp(-z));
  }

  static double silu(double z) {
    return z * sigmoid(z);
  }

  /** MLGRU step by step: {@code [B][T][C]} with the mixer's parameters by short name. */
  static float[][][] mlgru(float[][][] x, Map<String, float[]> p, boolean quantize) {
    int b = x.length, t = x[0].length, c = x[0][0].length;
    float[][][] y = new float[b][t][c];
    for (int bi = 0; bi < b; bi++) {
      double[] h = new double[c];
      for (int s = 0; s < t; s++) {
        double[] xt = toDouble(x[bi][s]);
        double[] zf = bitLinear(xt, p.get("w_f"), p.get("norm_f"), c, quantize);
        double[] zc = bitLinear(xt, p.get("w_c"), p.get("norm_c"), c, quantize);
        double[] zg = bitLinear(xt, p.get("w_g"), p.get("norm_g"), c, quantize);
        double[] gh = new double[c];
        for (int j = 0; j < c; j++) {
          double f = sigmoid(zf[j]);
          h[j] = f * h[j] + sigmoid(-zf[j]) * silu(zc[j]);
          gh[j] = sigmoid(zg[j]) * h[j];
        }
        double[] out = bitLinear(gh, p.get("w_o"), p.get("norm_o"), c, quantize);
        for (int j = 0; j < c; j++) {
          y[bi][s][j] = (float) out[j];
        }
      }
    }
    return y;
  }

  /** Forget gates {@code sigmoid(BL_f(x_t))} of every token, flattened. */
  static double[] forgetGates(float[][][] x, Map<String, float[]> p, boolean quantize) {
    int b = x.length, t = x[0].length, c = x[0][0].length;
    double[] f = new double[b * t * c];
    for (int bi = 0; bi < b; bi++) {
      for (int s = 0; s < t; s++) {
        double[] z = bitLinear(toDouble(x[bi][s]), p.get("w_f"), p.get("norm_f"), c, quantize);
        for (int j = 0; j < c; j++) {
          f[(bi * t + s) * c + j] = sigmoid(z[j]);
        }
      }
    }
    return f;
  }

  /** MLGLU: {@code BL_d(silu(BL_g(x)) ⊙ BL_u(x))} per token. */
  static float[][][] gluMml(float[][][] x, Map<String, float[]> p, int hidden, boolean quantize) {
    int b = x.length, t = x[0].length, c = x[0][0].length;
    float[][][] y = new float[b][t][c];
    for (int bi = 0; bi < b; bi++) {
      for (int s = 0; s < t; s++) {
        double[] xt = toDouble(x[bi][s]);
        double[] g = bitLinear(xt, p.get("w_gate"), p.get("norm_gate"), hidden, quantize);
        double[] u = bitLinear(xt, p.get("w_up"), p.get("norm_up"), hidden, quantize);
        double[] a = new double[hidden];
        for (int k = 0; k < hidden; k++) {
          a[k] = silu(g[k]) * u[k];
        }
        double[] out = bitLinear(a, p.get("w_down"), p.get("norm_down"), c, quantize);
        for (int j = 0; j < c; j++) {
          y[bi][s][j] = (float) out[j];
        }
      }
    }
    return y;
  }

  static double[] toDouble(float[] v) {
    double[] d = new double[v.length];
    for (int i = 0; i < v.length; i++) {
      d[i] = v[i];
    }
    return d;
  }

  /**
   * Random weights whose ternary quantisation is far from rounding ties: entries with
   * {@code |W| / mean|W|} near 0.5 are moved away until none is left.
   */
  static float[] ternarySafeWeights(Random rnd, int n, double std) {
    float[] w = new float[n];
    for (int i = 0; i < n; i++) {
      w[i] = (float) (rnd.nextGaussian() * std);
    }
    for (int round = 0; round < 100; round++) {
      double g = ternaryScale(w);
      boolean moved = false;
      for (int i = 0; i < n; i++) {
        double ratio = Math.abs(w[i]) / g;
        if (Math.abs(ratio - 0.5) < 0.05) {
          w[i] = (float) (Math.signum(w[i]) * g * (ratio < 0.5 ? 0.3 : 0.7));
          moved = true;
        }
      }
      if (!moved) {
        return w;
      }
    }
    throw new AssertionError("could not move weights away from rounding ties");
  }

  /** Gains around 1 (1 + N(0, std^2)). */
  static float[] gains(Random rnd, int n, double std) {
    float[] g = new float[n];
    for (int i = 0; i < n; i++) {
      g[i] = (float) (1 + rnd.nextGaussian() * std);
    }
    return g;
  }

  static float[][][] prefix(float[][][] x, int t) {
    float[][][] y = new float[x.length][t][];
    for (int b = 0; b < x.length; b++) {
      for (int s = 0; s < t; s++) {
        y[b][s] = x[b][s].clone();
      }
    }
    return y;
  }
}
