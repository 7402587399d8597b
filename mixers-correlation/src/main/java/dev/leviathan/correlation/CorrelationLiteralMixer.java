package dev.leviathan.correlation;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.train.BatchMatMul;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * {@code correlation-literal}: reproduction mode of the original Leviathan notebook. <b>Not causal</b>:
 * every output position reads the whole sequence, so it is no valid language model (the provider says
 * so through {@link #causal()}, and the trainer refuses it unless told otherwise).
 *
 * <pre>
 *   q, k, v = split(x W_qkv + b_qkv)                      H heads of width D = C/H, [T, D] per (b, h)
 *   S = correlate2d_same(sg(Q), sg(K))                    per (batch, head), [T, D]; sg = stop-gradient
 *   S[m, n] = sum_{i, j} Q[i + a, j + b] K[i, j],   a = m - floor(T/2),  b = n - floor(D/2)
 *             (Q = 0 outside 0..T-1 x 0..D-1: lags -floor(N/2) .. ceil(N/2)-1 on each axis)
 *   A = softmax(S K^T / sqrt(D))                          no causal mask
 *   y = merge_heads(A v) W_o + b_o
 * </pre>
 *
 * <p>The window and sign convention are those of {@code scipy.signal.correlate(Q, K, mode='same')},
 * which the original called. The original ran that call once over the whole (batch, heads, time, width)
 * array, so each sample's scores also mixed in the other samples and heads of the batch; here the
 * correlation is taken per (batch, head) only. That restriction is a deliberate fix of the cross-batch
 * leak and the one intended difference from the original.
 *
 * <p>Gradient paths, as in the original (which detached Q and K, ran the correlation outside the
 * autograd graph and multiplied the result with the live K): S is a constant for differentiation; the
 * key reaches the loss through {@code S K^T}, the value through {@code A v}. Hence W_v, W_o, b_o and the
 * key columns of W_qkv/b_qkv are trained (the key columns through {@code K^T} only), while <b>the query
 * columns of W_qkv and b_qkv receive an exactly zero gradient: W_q is never trained</b>. That is the
 * original's defect, kept on purpose. The projections stay fused in one {@code w_qkv} (as in the
 * attention mixer) so that every parameter this mixer creates is reached by the gradient and the
 * build-time check for missing gradients passes; the zero lives in a block of a trained matrix. One
 * consequence differs from the original's PyTorch AdamW, which skipped parameters without a gradient:
 * decoupled weight decay on {@code w_qkv} slowly shrinks the untrained query block, and with it the
 * scale of S.
 *
 * <p>Computation: with batch and heads folded into the channels of one image {@code [1, T, D, B*H]},
 * the correlation is a depth-wise convolution (one channel per (b, h), the filter being that channel's
 * K) of Q zero-padded by {@code floor(N/2)} before and {@code ceil(N/2)-1} after on both axes, with
 * VALID padding. No FFT (TensorFlow has no FFT gradient; none is needed behind the stop-gradient). Cost
 * O(T^2 D^2) per (batch, head) for the correlation plus O(T^2 D) for the scores; memory O(T D) for the
 * padded Q and S plus O(T^2) for the scores. Keep it to small widths and contexts.
 *
 * <p>No step function: it is not a {@code RecurrentTokenMixer}. Every output reads the whole sequence
 * (and S changes with T), so a position's output is not final until the sequence is, and no state of
 * the past can produce it. Generation with this mixer falls back to recomputing the whole window.
 */
public final class CorrelationLiteralMixer implements TokenMixerProvider {
  @Override
  public String name() {
    return "correlation-literal";
  }

  @Override
  public String description() {
    return "NON-CAUSAL reproduction of the original notebook: 2-D 'same' correlation of Q and K per (batch, head)";
  }

  @Override
  public int spiVersion() {
    return LeviathanSpi.VERSION;
  }

  @Override
  public boolean causal() {
    return false;
  }

  @Override
  public List<OptionSpec> options() {
    return List.of(
        OptionSpec.integer("heads", 4, 1, "number of heads; must divide the width"),
        OptionSpec.bool("bias", true, "add biases to the q/k/v and output projections"));
  }

  @Override
  public TokenMixer create(LayerContext layer, MixerOptions options) {
    int c = layer.width();
    int heads = options.heads("heads", c);
    int d = c / heads;
    boolean bias = options.getBool("bias");
    Ops tf = layer.tf();
    var wqkv = layer.params().matrix("w_qkv", c, 3L * c);
    var bqkv = bias ? layer.params().bias("b_qkv", 3L * c) : null;
    var wo = layer.params().outputMatrix("w_o", c, c);
    var bo = bias ? layer.params().bias("b_o", c) : null;
    float scale = (float) (1.0 / Math.sqrt(d));
    return x -> {
      Operand<TInt32> t = Layers.dim(tf, x, 1);
      Operand<TFloat32> qkv = Layers.linear(tf, x, wqkv, bqkv);
      var parts = tf.split(tf.constant(2), qkv, 3L);
      Operand<TFloat32> q = Layers.splitHeads(tf, parts.output().get(0), heads);
      Operand<TFloat32> k = Layers.splitHeads(tf, parts.output().get(1), heads);
      Operand<TFloat32> v = Layers.splitHeads(tf, parts.output().get(2), heads);
      Operand<TFloat32> s = correlateSame(tf, tf.stopGradient(q), tf.stopGradient(k), t, heads, d);
      Operand<TFloat32> scores = tf.math.mul(
          tf.train.batchMatMul(s, k, TFloat32.class, BatchMatMul.adjY(true)), tf.constant(scale));
      Operand<TFloat32> y = tf.train.batchMatMul(tf.nn.softmax(scores), v, TFloat32.class);
      return Layers.linear(tf, Layers.mergeHeads(tf, y), wo, bo);
    };
  }

  /**
   * {@code S[b, h] = correlate2d_same(Q[b, h], K[b, h])} for {@code q, k [B, H, T, D]}: a depth-wise
   * convolution over the image {@code [1, T, D, B*H]} whose per-channel filters are the keys.
   */
  private static Operand<TFloat32> correlateSame(
      Ops tf, Operand<TFloat32> q, Operand<TFloat32> k, Operand<TInt32> t, int heads, int d) {
    Operand<TInt32> one = tf.constant(new int[] {1});
    Operand<TInt32> t1 = tf.reshape(t, one);
    Operand<TInt32> dd = tf.constant(new int[] {d});
    Operand<TInt32> minus1 = tf.constant(new int[] {-1});
    int[] channelsLast = {2, 3, 0, 1};
    // [B, H, T, D] -> [T, D, B, H] -> [1, T, D, B*H]
    Operand<TFloat32> image = tf.reshape(
        tf.linalg.transpose(q, tf.constant(channelsLast)), tf.concat(List.of(one, t1, dd, minus1), tf.constant(0)));
    Operand<TFloat32> filter = tf.reshape(
        tf.linalg.transpose(k, tf.constant(channelsLast)), tf.concat(List.of(t1, dd, minus1, one), tf.constant(0)));
    // before = floor(N/2), after = N - 1 - floor(N/2), on time (run-time N = T) and width (N = D)
    Operand<TInt32> before = tf.math.floorDiv(t1, tf.constant(new int[] {2}));
    Operand<TInt32> after = tf.math.sub(tf.math.sub(t1, one), before);
    Operand<TInt32> paddings = tf.reshape(
        tf.concat(List.of(tf.constant(new int[] {0, 0}), before, after,
            tf.constant(new int[] {d / 2, d - 1 - d / 2, 0, 0})), tf.constant(0)),
        tf.constant(new int[] {4, 2}));
    Operand<TFloat32> padded = tf.pad(image, paddings, tf.constant(0f));
    Operand<TFloat32> s = tf.nn.depthwiseConv2dNative(padded, filter, List.of(1L, 1L, 1L, 1L), "VALID");
    // [1, T, D, B*H] -> [T, D, B, H] -> [B, H, T, D]
    Operand<TFloat32> unfolded = tf.reshape(
        s, tf.concat(List.of(t1, dd, minus1, tf.constant(new int[] {heads})), tf.constant(0)));
    return tf.linalg.transpose(unfolded, tf.constant(channelsLast));
  }
}
