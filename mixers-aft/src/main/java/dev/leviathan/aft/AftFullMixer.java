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
 * only. With {@code E[t, t'] = exp(w[t, t'] - r_t)} (lower-triangular) the sums are evaluated by
 * {@link DyadicMix}: the lower triangle cut into dyadic rectangles, one batched product per level,
 * the same multiply-adds as one lower-triangular {@code T x T} product; cost O(T^2 C) time and
 * O(T^2 + T C log T) memory per sequence. Up to {@link NativeAft#MIX_MAX_CONTEXT}, where the fused AFT
 * kernel is loaded (not in a portable graph), the same sums are that one op and its gradient instead.
 *
 * <p>Generation keeps the keys and values of every position read (a cache growing by one position
 * per step, {@code [B, t, C]} twice) and computes row t directly; the bias has {@code Tmax} rows, so
 * {@link RecurrentTokenMixer#positionLimit()} is the context.
 */
public final class AftFullMixer implements TokenMixerProvider {
  /** Standard deviation of the bias factors U and V. */
  static final double BIAS_STD = 0.01;

  private final boolean graphOnly;

  /** The provider found by the registry: the fused kernel where it is loaded. */
  public AftFullMixer() {
    this(false);
  }

  /** A provider that always builds {@link DyadicMix}'s graph form when {@code graphOnly} (tests compare the two). */
  AftFullMixer(boolean graphOnly) {
    this.graphOnly = graphOnly;
  }

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
    boolean fused = !graphOnly && tmax <= NativeAft.MIX_MAX_CONTEXT && !layer.portable() && NativeAft.loaded();
    return new Full(tf, c, tmax, wqkv, wo, expW, fused);
  }

  /** The mixer of one layer: the dyadic evaluation of the class comment, and a growing cache for steps. */
  private static final class Full implements RecurrentTokenMixer {
    private final Ops tf;
    private final int c;
    private final int tmax;
    private final Operand<TFloat32> wqkv;
    private final Operand<TFloat32> wo;
    private final Operand<TFloat32> expW;
    /** The graph form, or null where the fused kernel computes the sums. */
    private final DyadicMix mix;

    Full(Ops tf, int c, int tmax, Operand<TFloat32> wqkv, Operand<TFloat32> wo, Operand<TFloat32> expW, boolean fused) {
      this.tf = tf;
      this.c = c;
      this.tmax = tmax;
      this.wqkv = wqkv;
      this.wo = wo;
      this.expW = expW;
      this.mix = fused ? null : new DyadicMix(tf, expW, tmax);
    }

    @Override
    public Operand<TFloat32> apply(Operand<TFloat32> x) {
      if (mix != null) {
        return prefill(x).output();
      }
      return Layers.linear(tf, NativeAft.gatedRatio(tf, Layers.linear(tf, x, wqkv, null), expW, c), wo, null);
    }

    @Override
    public Step prefill(Operand<TFloat32> x) {
      List<Operand<TFloat32>> qkv = AftOps.qkv(tf, x, wqkv, c, c, c);
      if (mix != null) {
        Operand<TFloat32> ratio = mix.ratio(qkv.get(1), qkv.get(2), tmax);
        return new Step(AftOps.readout(tf, qkv.get(0), ratio, wo), List.of(qkv.get(1), qkv.get(2)));
      }
      Operand<TFloat32> ratio = NativeAft.ratio(tf, qkv.get(1), qkv.get(2), expW);
      return new Step(AftOps.fusedReadout(tf, qkv.get(0), ratio, wo), List.of(qkv.get(1), qkv.get(2)));
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
