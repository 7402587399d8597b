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
 *   = cumsum(a)_{t-s}       +  (loop over the s offsets d: a delayed by d, times the diagonal w[t, t-d])
 * </pre>
 *
 * which has no {@code exp(w) - 1} terms to cancel against the running sum, so it stays accurate when
 * the window holds most of the weight. Each row is scaled by {@code exp(-m_t)}, {@code m_t} the maximum
 * over the entries present in row t (band entries {@code t - d >= 0}, and 0 when {@code t >= s});
 * detached, it cancels in the ratio and depends on parameters only. {@code exp(k)} carries a detached
 * per-channel power-of-two shift that cancels bit-exactly (see {@link AftOps}). Cost O(T s C) time;
 * the forward pass needs O(T C) memory besides its input (one delayed copy at a time, no
 * {@code T x T} matrix); reverse-mode gradients keep the s delayed copies, O(T s C).
 */
public final class AftLocalMixer implements TokenMixerProvider {
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
    if (rank > 0) {
      var u = layer.params().create("pos_u", new long[] {tmax, rank}, Initializer.normal(AftFullMixer.BIAS_STD), true);
      var v = layer.params().create("pos_v", new long[] {tmax, rank}, Initializer.normal(AftFullMixer.BIAS_STD), true);
      int[][] rows = new int[tmax][s];
      for (int t = 0; t < tmax; t++) {
        for (int d = 0; d < s; d++) {
          rows[t][d] = Math.max(t - d, 0);
        }
      }
      Operand<TFloat32> vBand = tf.gather(v, tf.constant(rows), tf.constant(0)); // [Tmax, s, d']
      band = tf.sum(tf.math.mul(tf.expandDims(u, tf.constant(1)), vBand), tf.constant(2));
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
    Operand<TFloat32> bandWeight = tf.math.exp(tf.math.sub(present, rowMax)); // [Tmax, s]
    Operand<TFloat32> outsideWeight = tf.math.exp(tf.math.sub(outside, rowMax)); // [Tmax, 1], constant

    return x -> {
      Operand<TInt32> t = Layers.dim(tf, x, 1);
      List<Operand<TFloat32>> qkv = AftOps.qkv(tf, x, wqkv, c, c, c);
      Operand<TFloat32> terms = AftOps.terms(tf, AftOps.scaledExp(tf, qkv.get(1)), qkv.get(2));
      Operand<TInt32> column = tf.constant(new int[] {1, -1, 1});
      Operand<TFloat32> far = AftOps.delay(tf, tf.math.cumsum(terms, tf.constant(1)), s, t);
      Operand<TFloat32> sums = tf.math.mul(tf.reshape(AftOps.firstRows(tf, outsideWeight, t), column), far);
      // diagonal d of the band, w[t, t - d] for t < T, as [1, T, 1] each
      // (a one-way Split has a gradient TensorFlow cannot build: a Concat of one input)
      Operand<TFloat32> bandRows = AftOps.firstRows(tf, bandWeight, t);
      List<? extends Operand<TFloat32>> diagonals =
          s == 1 ? List.of(bandRows) : tf.split(tf.constant(1), bandRows, (long) s).output();
      Operand<TFloat32> padded = AftOps.padFront(tf, terms, s - 1);
      for (int d = 0; d < s; d++) {
        Operand<TFloat32> delayed = AftOps.window(tf, padded, s - 1 - d, t); // a_{t-d}
        sums = tf.math.add(sums, tf.math.mul(tf.reshape(diagonals.get(d), column), delayed));
      }
      return AftOps.readout(tf, qkv.get(0), AftOps.ratio(tf, sums), wo);
    };
  }
}
