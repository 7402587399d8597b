package dev.leviathan.aft;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.Initializer;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
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
 * <p>Since {@code exp(k + w) = exp(w) exp(k)}, numerator and denominator are one matmul of the
 * lower-triangular matrix {@code E[t, t'] = exp(w[t, t'] - m_t)} (0 for {@code t' > t}), sliced to the
 * run-time {@code T}, with {@code [exp(k) ⊙ v, exp(k)]}. {@code m_t} is the maximum of row t of
 * {@code w} over {@code t' <= t} (detached; a per-row constant cancels in the ratio and depends on
 * parameters only). {@code exp(k)} carries a detached per-channel power-of-two shift that cancels
 * bit-exactly (see {@link AftOps}). Cost O(T^2 C) time, O(T^2 + T C) memory per sequence.
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
    Operand<TFloat32> expW = tf.math.exp(tf.math.sub(masked, rowMax));
    return x -> {
      Operand<TInt32> t = Layers.dim(tf, x, 1);
      List<Operand<TFloat32>> qkv = AftOps.qkv(tf, x, wqkv, c, c, c);
      Operand<TFloat32> terms = AftOps.terms(tf, AftOps.scaledExp(tf, qkv.get(1)), qkv.get(2));
      Operand<TFloat32> e = tf.slice(expW, tf.constant(new int[] {0, 0}), tf.stack(List.of(t, t)));
      // [B, T, 2C] -> [T, B * 2C], one matmul with the [T, T] weights, and back
      Operand<TInt32> perm = tf.constant(new int[] {1, 0, 2});
      Operand<TFloat32> flat = tf.reshape(tf.linalg.transpose(terms, perm), tf.stack(List.of(t, tf.constant(-1))));
      Operand<TFloat32> mixed = tf.reshape(tf.linalg.matMul(e, flat),
          tf.stack(List.of(t, tf.constant(-1), tf.constant(2 * c))));
      Operand<TFloat32> sums = tf.linalg.transpose(mixed, perm);
      return AftOps.readout(tf, qkv.get(0), AftOps.ratio(tf, sums), wo);
    };
  }
}
