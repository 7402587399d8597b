package dev.leviathan.aft;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.Initializer;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.RecurrentTokenMixer;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Max;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * {@code aft-local}: causal AFT-local (Zhai et al. 2021, arXiv 2105.14103): AFT-full whose learned
 * position bias is confined to a window of {@code s} positions; outside the window the bias is 0 (not
 * -inf), so every earlier token still contributes with weight {@code exp(k_t')}.
 *
 * <pre>
 *   q, k, v = x W_q, x W_k, x W_v                         [B, T, C] each (one fused C -> 3C matrix, no bias)
 *   w'[t, t'] = w[t, t']  if t - t' < s,  else 0
 *   y_t     = sigmoid(q_t) ⊙ sum_{t' <= t} exp(k_t' + w'[t, t']) ⊙ v_t' / sum_{t' <= t} exp(k_t' + w'[t, t'])
 *   out     = y W_o                                       output projection into the residual stream
 * </pre>
 *
 * {@code w} is one scalar per (t, t') pair, shared by all channels; only its band {@code 0 <= t - t' < s}
 * is used. With {@code bias-rank > 0} it is {@code U V^T} ({@code U, V in R^{Tmax x bias-rank}},
 * N(0, 0.01^2)) and the band diagonals {@code w[t, t - d] = U_t · V_{t-d}} are computed directly, never
 * the {@code Tmax x Tmax} matrix; with {@code bias-rank = 0} the band itself is the parameter
 * {@code pos_band[t, d] = w[t, t - d]} ({@code Tmax x s}, initialised to 0). The output projection
 * {@code W_o} plays the role of attention's {@code W_o}; the paper's equation ends at {@code y}.
 *
 * <p>Computation, with {@code a_t' = [exp(k_t') ⊙ v_t', exp(k_t')]} (numerator and denominator side by
 * side): the spec's split into a running sum plus the banded correction
 * {@code sum_{t-s < t' <= t} (exp(w[t,t']) - 1) a_t'} is evaluated in the equal form
 *
 * <pre>
 *   sum_{t' <= t - s} a_t'  +  sum_{d = 0}^{s-1} exp(w[t, t - d]) a_{t-d}
 *   = cumsum(a)_{t-s}       +  (a masked band product: row t against positions t - s < t' <= t)
 * </pre>
 *
 * which has no {@code exp(w) - 1} terms to cancel against the running sum, so it stays accurate when
 * the window holds most of the weight. Every term of row t is scaled by {@code exp(-m_t - r_t)}:
 * {@code m_t} the causal running maximum of the keys (see {@link AftOps}), {@code r_t} the maximum over
 * the bias entries present in row t (band entries {@code t - d >= 0}, and 0 when {@code t >= s});
 * both detached, they cancel in the ratio, and every weight is {@code <= 1}. {@code cumsum(a)_{t-s}}
 * is the rescaled prefix sum of {@link AftOps#chunked}; the band is one masked product per chunk of
 * rows against the chunks covering its window ({@link AftOps#windowSums}). Cost O(T C (s + log T))
 * time and O(T s C) memory (no {@code T x T} matrix).
 *
 * <p>Up to a context of {@link #DENSE_MAX_CONTEXT} the parallel pass (training, evaluation) takes the
 * dense form instead: {@code w'} as a lower-triangular {@code Tmax x Tmax} matrix (band entries, 0
 * further back) mixed by {@link DyadicMix}, the same sums in O(T^2 C) time, whose few large batched
 * products are cheaper than the chunked band at short contexts; past it, and for generation's prefill
 * (whose state is the window's), the banded form above. Both are exact in the same causal scale and
 * tested to agree. Up to {@link NativeAft#MIX_MAX_CONTEXT}, where the fused AFT kernel is loaded (not in a
 * portable graph), the dense form is that one op and its gradient instead of DyadicMix's graph.
 *
 * <p>Generation carries the keys and value terms of the last s positions, the sums of every position
 * before them and the running maximum (constant size, {@code O(s C)} per sequence); the bias rows
 * exist for {@code Tmax} positions, so {@link RecurrentTokenMixer#positionLimit()} is the context.
 */
public final class AftLocalMixer implements TokenMixerProvider {
  /** Largest context at which the parallel pass takes the dense form (crossover measured in docs/results.md). */
  static final int DENSE_MAX_CONTEXT = 512;

  /**
   * Which form the parallel pass takes: AUTO chooses by context and by whether the fused kernel is
   * loaded; DENSE is the dense form in graph ops ({@link DyadicMix}), NATIVE the dense form as the fused
   * kernel ({@link NativeAft}), BANDED the banded form.
   */
  enum Form { AUTO, DENSE, NATIVE, BANDED }

  private final Form form;

  /** The provider found by the registry: the form is chosen by the context. */
  public AftLocalMixer() {
    this(Form.AUTO);
  }

  /** A provider whose parallel pass always takes {@code form} (tests compare the forms). */
  AftLocalMixer(Form form) {
    this.form = form;
  }

  @Override
  public String name() {
    return "aft-local";
  }

  @Override
  public String description() {
    return "causal AFT-local: AFT with a learned position bias inside a window of s steps, O(T s C)";
  }

  @Override
  public int spiVersion() {
    return LeviathanSpi.VERSION;
  }

  @Override
  public boolean causal() {
    return true;
  }

  @Override
  public List<OptionSpec> options() {
    return List.of(
        OptionSpec.integer("window", 32, 1, "window s of the learned position bias (steps, the current one included)"),
        OptionSpec.integer("bias-rank", 64, 0,
            "rank d' of the position bias w = U V^T (Tmax x d' each); 0 = a learned Tmax x s band"));
  }

  @Override
  public TokenMixer create(LayerContext layer, MixerOptions options) {
    int c = layer.width();
    int tmax = layer.context();
    int s = options.getInt("window");
    options.require(s <= tmax, "window", "be <= the context " + tmax);
    int rank = options.getInt("bias-rank");
    Ops tf = layer.tf();
    var wqkv = layer.params().matrix("w_qkv", c, 3L * c);
    var wo = layer.params().outputMatrix("w_o", c, c);

    // band[t, d] = w[t, t - d], [Tmax, s]
    Operand<TFloat32> band;
    Operand<TFloat32> full = null; // U V^T, where it is formed
    if (rank > 0) {
      var u = layer.params().create("pos_u", new long[] {tmax, rank}, Initializer.normal(AftFullMixer.BIAS_STD), true);
      var v = layer.params().create("pos_v", new long[] {tmax, rank}, Initializer.normal(AftFullMixer.BIAS_STD), true);
      int[][] rows = new int[tmax][s];
      for (int t = 0; t < tmax; t++) {
        for (int d = 0; d < s; d++) {
          rows[t][d] = Math.max(t - d, 0);
        }
      }
      if (tmax <= (long) s * rank) {
        // U V^T in one product ([Tmax, Tmax], no larger than the rows' [Tmax, s, d']) and the band read out of it
        int[][] flat = new int[tmax][s];
        for (int t = 0; t < tmax; t++) {
          for (int d = 0; d < s; d++) {
            flat[t][d] = t * tmax + rows[t][d];
          }
        }
        full = tf.linalg.matMul(u, v, MatMul.transposeB(true));
        band = tf.gather(tf.reshape(full, tf.constant(new int[] {-1})), tf.constant(flat), tf.constant(0));
      } else {
        Operand<TFloat32> vBand = tf.gather(v, tf.constant(rows), tf.constant(0)); // [Tmax, s, d']
        band = tf.sum(tf.math.mul(tf.expandDims(u, tf.constant(1)), vBand), tf.constant(2));
      }
    } else {
      band = layer.params().create("pos_band", new long[] {tmax, s}, Initializer.zeros(), true);
    }
    // entries t - d < 0 do not exist; the position outside the window (bias 0) exists for t >= s
    float[][] absent = new float[tmax][s];
    float[][] outsideAbsent = new float[tmax][1];
    for (int t = 0; t < tmax; t++) {
      for (int d = t + 1; d < s; d++) {
        absent[t][d] = -1e9f;
      }
      outsideAbsent[t][0] = t >= s ? 0f : -1e9f;
    }
    Operand<TFloat32> present = tf.math.add(band, tf.constant(absent));
    Operand<TFloat32> outside = tf.constant(outsideAbsent);
    Operand<TFloat32> rowMax = tf.stopGradient(
        tf.math.maximum(tf.max(present, tf.constant(1), Max.keepDims(true)), outside));
    Operand<TFloat32> logBand = tf.math.sub(present, rowMax); // [Tmax, s]
    Operand<TFloat32> logOutside = tf.math.sub(outside, rowMax); // [Tmax, 1], constant
    Operand<TInt32> column = tf.constant(new int[] {1, -1, 1, 1});
    // the band rows padded to whole chunks, [Tpad, s, 1]
    int padRows = (AftOps.CHUNK - tmax % AftOps.CHUNK) % AftOps.CHUNK;
    Operand<TFloat32> nearRows = tf.reshape(tf.pad(logBand, tf.constant(new int[][] {{0, padRows}, {0, 0}}), tf.constant(0f)),
        tf.constant(new int[] {tmax + padRows, s, 1}));

    Form chosen = form != Form.AUTO ? form
        : tmax > DENSE_MAX_CONTEXT ? Form.BANDED
        : tmax <= NativeAft.MIX_MAX_CONTEXT && NativeAft.loaded() && !layer.portable() ? Form.NATIVE
        : Form.DENSE;
    Operand<TFloat32> weights = chosen == Form.BANDED ? null
        : full != null ? denseWeightsOfFull(tf, full, tmax, s) : denseWeights(tf, band, tmax, s);
    DyadicMix mix = chosen == Form.DENSE ? new DyadicMix(tf, weights, tmax) : null;

    return new AftOps.ParallelAndStep() {
      @Override
      Step run(Operand<TFloat32> x, boolean withState) {
        if (weights != null && !withState) {
          if (mix != null) {
            List<Operand<TFloat32>> qkv = AftOps.qkv(tf, x, wqkv, c, c, c);
            return new Step(AftOps.readout(tf, qkv.get(0), mix.ratio(qkv.get(1), qkv.get(2), tmax), wo), List.of());
          }
          Operand<TFloat32> gated = NativeAft.gatedRatio(tf, Layers.linear(tf, x, wqkv, null), weights, c);
          return new Step(Layers.linear(tf, gated, wo, null), List.of());
        }
        Operand<TInt32> t = Layers.dim(tf, x, 1);
        List<Operand<TFloat32>> qkv = AftOps.qkv(tf, x, wqkv, c, c, c);
        AftOps.Sums sums = AftOps.windowSums(tf, AftOps.splitLast(tf, qkv.get(1), c, 1),
            AftOps.splitLast(tf, qkv.get(2), c, 1), s, nearRows,
            tf.reshape(AftOps.firstRows(tf, logOutside, t), column), tmax, withState);
        return new Step(readout(qkv.get(0), sums.sums()), sums.state());
      }

      @Override
      public Step step(Operand<TFloat32> xt, Operand<TInt32> position, List<Operand<TFloat32>> state) {
        if (state.size() != 4) {
          throw new IllegalArgumentException("aft-local carries four state tensors (window keys, window values,"
              + " sums before the window, running maximum), got " + state.size());
        }
        List<Operand<TFloat32>> qkv = AftOps.qkv(tf, xt, wqkv, c, c, c);
        // row t of the band, oldest window position (offset s - 1) first
        Operand<TFloat32> row = tf.reshape(tf.reverse(tf.gather(logBand, position, tf.constant(0)), tf.constant(new int[] {0})),
            tf.constant(new int[] {1, s, 1, 1}));
        Operand<TFloat32> far = tf.reshape(tf.gather(logOutside, position, tf.constant(0)), tf.constant(new int[] {1, 1, 1}));
        AftOps.Sums sums = AftOps.windowStep(tf, AftOps.splitLast(tf, qkv.get(1), c, 1),
            AftOps.splitLast(tf, qkv.get(2), c, 1), state, row, far);
        return new Step(readout(qkv.get(0), sums.sums()), sums.state());
      }

      @Override
      public long positionLimit() {
        return tmax;
      }

      private Operand<TFloat32> readout(Operand<TFloat32> q, Operand<TFloat32> sums) {
        return AftOps.readout(tf, q, tf.reshape(AftOps.ratio(tf, sums, 1, -1), Layers.withLastDim(tf, q, c)), wo);
      }
    };
  }

  /**
   * {@code E[t, u] = exp(w'[t, u] - r_t)} as a {@code [Tmax, Tmax]} matrix: {@code band[t, t - u]} inside
   * the window, 0 further back, masked (-1e9 before {@code exp}, so exact zeros with zero gradient)
   * above the diagonal; {@code r_t} the detached maximum of row t.
   */
  static Operand<TFloat32> denseWeights(Ops tf, Operand<TFloat32> band, int tmax, int s) {
    int[][] index = new int[tmax][tmax];
    for (int t = 0; t < tmax; t++) {
      for (int u = Math.max(0, t - s + 1); u <= t; u++) {
        index[t][u] = t * s + t - u;
      }
    }
    Operand<TFloat32> gathered = tf.gather(tf.reshape(band, tf.constant(new int[] {-1})), tf.constant(index), tf.constant(0));
    return denseWeightsOfFull(tf, gathered, tmax, s);
  }

  /**
   * {@link #denseWeights} from a {@code [Tmax, Tmax]} matrix whose entries inside the window are the bias (the
   * full {@code w = U V^T} where it is formed: the same numbers, without reading the band out and back).
   */
  static Operand<TFloat32> denseWeightsOfFull(Ops tf, Operand<TFloat32> w, int tmax, int s) {
    float[][] inWindow = new float[tmax][tmax];
    float[][] offset = new float[tmax][tmax];
    for (int t = 0; t < tmax; t++) {
      for (int u = 0; u < tmax; u++) {
        int d = t - u;
        if (d >= 0 && d < s) {
          inWindow[t][u] = 1f;
        } else if (d < 0) {
          offset[t][u] = -1e9f;
        }
      }
    }
    Operand<TFloat32> logE = tf.math.add(tf.math.mul(w, tf.constant(inWindow)), tf.constant(offset));
    Operand<TFloat32> rowMax = tf.stopGradient(tf.max(logE, tf.constant(1), Max.keepDims(true)));
    return tf.math.exp(tf.math.sub(logE, rowMax));
  }
}
