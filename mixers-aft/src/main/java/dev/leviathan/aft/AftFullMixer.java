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
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Max;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * {@code aft-full}: causal AFT-full (Zhai et al. 2021, arXiv 2105.14103) with a learned pair-wise
 * position bias.
 *
 * <pre>
 *   q, k, v = x W_q, x W_k, x W_v                         [B, T, C] each (one fused C -> 3C matrix, no bias)
 *   y_t     = sigmoid(q_t) ⊙ sum_{t' <= t} exp(k_t' + w[t, t']) ⊙ v_t' / sum_{t' <= t} exp(k_t' + w[t, t'])
 *   out     = y W_o                                       output projection into the residual stream
 * </pre>
 *
 * {@code w} is one scalar per (t, t') pair over the maximum context {@code Tmax}, shared by all
 * channels: {@code w = U V^T} with {@code U, V in R^{Tmax x bias-rank}}, N(0, 0.01^2) (the paper's
 * factorisation), or with {@code bias-rank = 0} a full {@code Tmax x Tmax} matrix initialised to 0 (so
 * the mixer starts as {@code aft-simple}). The output projection {@code W_o} after the AFT operation
 * plays the role of attention's {@code W_o}; the paper's equation ends at {@code y}.
 *
 * <p>Every term of row t is scaled by {@code exp(-m_t - r_t)}: {@code m_t = max_{t' <= t} k_t'}, the
 * causal running maximum per channel (see {@link AftOps}), and {@code r_t} the maximum of row t of
 * {@code w} over {@code t' <= t}; both detached, they cancel in the ratio, every weight is {@code <= 1}
 * and the largest is 1, so any finite keys give finite outputs that depend on positions {@code <= t}
 * only. With {@code E[t, t'] = exp(w[t, t'] - r_t)} (lower-triangular), a per-row shift of the keys
 * does not fit one {@code E @ (exp(k) ⊙ v)} matmul, so the lower triangle is cut into dyadic
 * rectangles: at level l ({@code h = 2^l}), every block of {@code 2h} positions contributes its left
 * half (columns) to its right half (rows):
 *
 * <pre>
 *   rows t in [2hn + h, 2hn + 2h), columns t' in [2hn, 2hn + h):
 *   exp(M - m_t) * sum_t' E[t, t'] exp(k_t' - M) [v_t', 1],   M = max of k over the columns  (<= m_t)
 * </pre>
 *
 * one batched matmul per level ({@code ceil(log2 Tmax)} levels); together with the diagonal
 * {@code E[t, t] exp(k_t - m_t)} the rectangles cover {@code t' <= t} exactly once. The matmuls do the
 * same multiply-adds as one lower-triangular {@code T x T} product; cost O(T^2 C) time and
 * O(T^2 + T C log T) memory per sequence.
 *
 * <p>Generation keeps the keys and values of every position read (a cache growing by one position
 * per step, {@code [B, t, C]} twice) and computes row t directly; the bias has {@code Tmax} rows, so
 * {@link RecurrentTokenMixer#positionLimit()} is the context.
 */
public final class AftFullMixer implements TokenMixerProvider {
  /** Standard deviation of the bias factors U and V. */
  static final double BIAS_STD = 0.01;

  @Override
  public String name() {
    return "aft-full";
  }

  @Override
  public String description() {
    return "causal AFT-full: exp(k) ⊙ v mixed over time with a learned pair-wise position bias, O(T^2 C)";
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
    return List.of(OptionSpec.integer("bias-rank", 64, 0,
        "rank d' of the position bias w = U V^T (Tmax x d' each); 0 = a full Tmax x Tmax matrix"));
  }

  @Override
  public TokenMixer create(LayerContext layer, MixerOptions options) {
    int c = layer.width();
    int tmax = layer.context();
    int rank = options.getInt("bias-rank");
    Ops tf = layer.tf();
    var wqkv = layer.params().matrix("w_qkv", c, 3L * c);
    var wo = layer.params().outputMatrix("w_o", c, c);
    Operand<TFloat32> w;
    if (rank > 0) {
      var u = layer.params().create("pos_u", new long[] {tmax, rank}, Initializer.normal(BIAS_STD), true);
      var v = layer.params().create("pos_v", new long[] {tmax, rank}, Initializer.normal(BIAS_STD), true);
      w = tf.linalg.matMul(u, v, MatMul.transposeB(true));
    } else {
      w = layer.params().create("pos_w", new long[] {tmax, tmax}, Initializer.zeros(), true);
    }
    // lower-triangular exp(w - rowmax): the mask (-1e9 above the diagonal) enters before exp, so the
    // entries above the diagonal are exact zeros with zero gradient
    Operand<TFloat32> masked = tf.math.add(w, Layers.causalMask(tf, tf.constant(tmax)));
    Operand<TFloat32> rowMax = tf.stopGradient(tf.max(masked, tf.constant(1), Max.keepDims(true)));
    Operand<TFloat32> expW = tf.math.exp(tf.math.sub(masked, rowMax)); // [Tmax, Tmax]
    return new Full(tf, c, tmax, wqkv, wo, expW);
  }

  /** The mixer of one layer: the dyadic evaluation of the class comment, and a growing cache for steps. */
  private static final class Full implements RecurrentTokenMixer {
    private final Ops tf;
    private final int c;
    private final int tmax;
    private final Operand<TFloat32> wqkv;
    private final Operand<TFloat32> wo;
    private final Operand<TFloat32> expW;
    private final Operand<TFloat32> diagonal;
    /** Per level l: the blocks {@code E[2^(l+1) n + 2^l + i, 2^(l+1) n + j]}, {@code [Tpow / 2^(l+1), 2^l, 2^l]}. */
    private final List<Operand<TFloat32>> blocks = new ArrayList<>();

    Full(Ops tf, int c, int tmax, Operand<TFloat32> wqkv, Operand<TFloat32> wo, Operand<TFloat32> expW) {
      this.tf = tf;
      this.c = c;
      this.tmax = tmax;
      this.wqkv = wqkv;
      this.wo = wo;
      this.expW = expW;
      float[][] eye = new float[tmax][tmax];
      for (int i = 0; i < tmax; i++) {
        eye[i][i] = 1f;
      }
      this.diagonal = tf.sum(tf.math.mul(expW, tf.constant(eye)), tf.constant(1)); // [Tmax]
      int levels = AftOps.levels(tmax);
      int tpow = 1 << levels;
      Operand<TFloat32> padded = tf.pad(expW, tf.constant(new int[][] {{0, tpow - tmax}, {0, tpow - tmax}}), tf.constant(0f));
      for (int l = 0; l < levels; l++) {
        int h = 1 << l;
        int n = tpow / (2 * h);
        // [n, 2h, n, 2h] -> [n, n, 2h, 2h] -> the n diagonal blocks -> their lower-left h x h corner
        Operand<TFloat32> grid = tf.reshape(
            tf.linalg.transpose(tf.reshape(padded, tf.constant(new int[] {n, 2 * h, n, 2 * h})), tf.constant(new int[] {0, 2, 1, 3})),
            tf.constant(new int[] {n * n, 2 * h, 2 * h}));
        int[] diagonalBlocks = new int[n];
        for (int i = 0; i < n; i++) {
          diagonalBlocks[i] = i * n + i;
        }
        Operand<TFloat32> square = tf.gather(grid, tf.constant(diagonalBlocks), tf.constant(0));
        blocks.add(tf.slice(square, tf.constant(new int[] {0, h, 0}), tf.constant(new int[] {-1, h, h})));
      }
    }

    @Override
    public Operand<TFloat32> apply(Operand<TFloat32> x) {
      return prefill(x).output();
    }

    @Override
    public Step prefill(Operand<TFloat32> x) {
      List<Operand<TFloat32>> qkv = AftOps.qkv(tf, x, wqkv, c, c, c);
      Operand<TFloat32> k = AftOps.splitLast(tf, qkv.get(1), c, 1); // [B, T, C, 1]
      Operand<TFloat32> values = AftOps.withOnes(tf, AftOps.splitLast(tf, qkv.get(2), c, 1)); // [B, T, C, 2]
      Operand<TInt32> t = Layers.dim(tf, x, 1);
      Operand<TFloat32> m = AftOps.runningMax(tf, k, tmax);
      Operand<TInt32> column = tf.constant(new int[] {1, -1, 1, 1});
      Operand<TFloat32> own = tf.reshape(tf.slice(diagonal, tf.constant(new int[] {0}), tf.reshape(t, tf.constant(new int[] {1}))), column);
      Operand<TFloat32> sums = tf.math.mul(tf.math.mul(own, tf.math.exp(tf.math.sub(k, m))), values);
      for (int l = 0; l < blocks.size(); l++) {
        sums = tf.math.add(sums, level(l, k, m, values, t));
      }
      Operand<TFloat32> ratio = tf.reshape(AftOps.ratio(tf, sums, 1), Layers.withLastDim(tf, qkv.get(0), c));
      return new Step(AftOps.readout(tf, qkv.get(0), ratio, wo), List.of(qkv.get(1), qkv.get(2)));
    }

    /**
     * The rectangles of level l: rows in the right half of each block of 2^(l+1) positions, columns
     * in its left half, in the scale {@code exp(-m_t)} of each row; zero on the other rows.
     */
    private Operand<TFloat32> level(int l, Operand<TFloat32> k, Operand<TFloat32> m, Operand<TFloat32> values, Operand<TInt32> t) {
      int h = 1 << l;
      Operand<TInt32> span = tf.constant(2 * h);
      Operand<TInt32> n = tf.math.floorDiv(tf.math.add(t, tf.constant(2 * h - 1)), span);
      Operand<TInt32> padded = tf.math.mul(n, span);
      Operand<TInt32> zero = tf.constant(0);
      Operand<TInt32> paddings = tf.reshape(
          tf.stack(List.of(zero, zero, zero, tf.math.sub(padded, t), zero, zero, zero, zero)), tf.constant(new int[] {4, 2}));
      Operand<TInt32> minusOne = tf.constant(-1);
      Operand<TInt32> grid1 = tf.stack(List.of(minusOne, n, span, tf.constant(c), tf.constant(1)));
      Operand<TInt32> grid2 = tf.stack(List.of(minusOne, n, span, tf.constant(c), tf.constant(2)));
      Operand<TInt32> leftHalf = tf.constant(new int[] {-1, -1, h, -1, -1});
      Operand<TInt32> origin = tf.constant(new int[] {0, 0, 0, 0, 0});
      // padding: keys -max (no weight), values 0, row maxima +max (rows discarded, scale 0)
      Operand<TFloat32> keys = tf.slice(tf.reshape(tf.pad(k, paddings, tf.constant(AftOps.NEG)), grid1), origin, leftHalf);
      Operand<TFloat32> vals = tf.slice(tf.reshape(tf.pad(values, paddings, tf.constant(0f)), grid2), origin, leftHalf);
      Operand<TFloat32> rowMax = tf.slice(tf.reshape(tf.pad(m, paddings, tf.constant(Float.MAX_VALUE)), grid1),
          tf.constant(new int[] {0, 0, h, 0, 0}), leftHalf);
      Operand<TFloat32> blockMax = tf.stopGradient(tf.max(keys, tf.constant(2), Max.keepDims(true))); // [B, n, 1, C, 1]
      Operand<TFloat32> g = tf.math.mul(tf.math.exp(tf.math.sub(keys, blockMax)), vals); // [B, n, h, C, 2]
      // one [h, h] block per n, broadcast over the batch: [1, n, h, h] x [B, n, h, 2C] (no transposes)
      Operand<TFloat32> e = tf.expandDims(
          tf.slice(blocks.get(l), tf.constant(new int[] {0, 0, 0}), tf.stack(List.of(n, minusOne, minusOne))), tf.constant(0));
      Operand<TFloat32> columns = tf.reshape(g, tf.stack(List.of(minusOne, n, tf.constant(h), tf.constant(2 * c))));
      Operand<TFloat32> mixed = tf.reshape(tf.train.batchMatMul(e, columns, TFloat32.class),
          tf.stack(List.of(minusOne, n, tf.constant(h), tf.constant(c), tf.constant(2)))); // [B, n, h, C, 2]
      Operand<TFloat32> right = tf.math.mul(mixed, tf.math.exp(tf.math.sub(blockMax, rowMax)));
      Operand<TFloat32> rows = tf.reshape(tf.concat(List.of(tf.zerosLike(right), right), tf.constant(2)),
          tf.stack(List.of(minusOne, padded, tf.constant(c), tf.constant(2))));
      return AftOps.window(tf, rows, 0, t);
    }

    @Override
    public Step step(Operand<TFloat32> xt, Operand<TInt32> position, List<Operand<TFloat32>> state) {
      if (state.size() != 2) {
        throw new IllegalArgumentException("aft-full carries two state tensors (keys and values of every position read), got "
            + state.size());
      }
      List<Operand<TFloat32>> qkv = AftOps.qkv(tf, xt, wqkv, c, c, c);
      Operand<TInt32> time = tf.constant(1);
      Operand<TFloat32> keys = tf.concat(List.of(state.get(0), tf.expandDims(qkv.get(1), time)), time); // [B, t + 1, C]
      Operand<TFloat32> values = tf.concat(List.of(state.get(1), tf.expandDims(qkv.get(2), time)), time);
      Operand<TFloat32> m = tf.stopGradient(tf.max(keys, time, Max.keepDims(true)));
      Operand<TInt32> count = tf.reshape(tf.math.add(position, tf.constant(1)), tf.constant(new int[] {1}));
      Operand<TFloat32> row = tf.reshape(
          tf.slice(tf.gather(expW, position, tf.constant(0)), tf.constant(new int[] {0}), count), tf.constant(new int[] {1, -1, 1}));
      Operand<TFloat32> e = tf.math.mul(row, tf.math.exp(tf.math.sub(keys, m)));
      Operand<TFloat32> ratio = tf.math.div(tf.sum(tf.math.mul(e, values), time), tf.sum(e, time));
      return new Step(AftOps.readout(tf, qkv.get(0), ratio, wo), List.of(keys, values));
    }

    @Override
    public long positionLimit() {
      return tmax;
    }
  }
}
