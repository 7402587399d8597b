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
import org.tensorflow.op.math.Mean;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * {@code aft-conv}: AFT-conv (Zhai et al. 2021, arXiv 2105.14103) as a causal 1-D depth-wise
 * convolution over time. The paper defines AFT-conv non-causally over images; this causal 1-D form is
 * this project's extension of it.
 *
 * <pre>
 *   q, v = x W_q, x W_v        [B, T, C], split into h heads of width D = C / h
 *   k    = x W_k               [B, T, h]: one key per head (one fused C -> 2C + h matrix, no bias)
 *   w~_i = gamma_i (w_i - mean(w_i)) / sqrt(var(w_i) + 1e-5) + beta_i    kernel of head i, s taps
 *   per head i and channel j of that head:
 *   y_t  = sigmoid(q_t) ⊙ [conv(exp(k) ⊙ v, exp(w~_i) - 1) + cumsum(exp(k) ⊙ v)]_t
 *                        / [conv(exp(k), exp(w~_i) - 1) + cumsum(exp(k))]_t
 *   conv(a, f)_t = sum_{d = 0}^{s-1} f[d] a_{t-d}   (causal: looks back s - 1 steps; a_{<0} = 0)
 *   out  = y W_o               output projection into the residual stream
 * </pre>
 *
 * Equivalently, position {@code t - d} carries the bias {@code w~_i[d]} for {@code d < s} and 0 beyond
 * (AFT-local with a bias that depends only on the offset, one filter per head shared across the head's
 * channels). {@code mean} and {@code var} are over the s taps (population variance); {@code w_i} is
 * initialised N(0, 1) without weight decay (the normalisation makes its scale irrelevant), {@code gamma}
 * and {@code beta} to 0, so every tap starts at {@code exp(0) = 1}: AFT-simple with one key per head. The output projection {@code W_o}
 * plays the role of attention's {@code W_o}; the paper's equation ends at {@code y}.
 *
 * <p>Computed, with {@code a = [exp(k) ⊙ v, exp(k)]} per head, in the equal form
 * {@code cumsum(a)_{t-s} + conv(a, exp(w~_i))} (one causal DepthwiseConv2dNative over time), which has
 * no {@code exp(w~) - 1} terms to cancel against the running sum. Each head is scaled by
 * {@code exp(-m_i)}, {@code m_i = max(0, max_d w~_i[d])} (detached; it cancels in the ratio and depends
 * on parameters only; the 0 stands for the positions beyond the kernel, so it may exceed what the
 * first s - 1 rows need, which matters only for kernel biases spanning ~100 nats). {@code exp(k)} carries a detached per-head power-of-two shift that cancels
 * bit-exactly (see {@link AftOps}). Cost O(T s C) time, O(T C) memory per sequence.
 */
public final class AftConvMixer implements TokenMixerProvider {
  /** Added to the variance of a kernel before the square root. */
  static final float KERNEL_EPS = 1e-5f;

  @Override
  public String name() {
    return "aft-conv";
  }

  @Override
  public String description() {
    return "causal 1-D AFT-conv: per-head causal depth-wise convolution of exp(k) ⊙ v plus a running sum, O(T s C)";
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
        OptionSpec.integer("heads", 4, 1, "number of heads h (one key and one kernel each); must divide the width"),
        OptionSpec.integer("kernel", 32, 1, "kernel size s: taps over the current and the s - 1 previous steps"));
  }

  @Override
  public TokenMixer create(LayerContext layer, MixerOptions options) {
    int c = layer.width();
    int heads = options.heads("heads", c);
    int s = options.getInt("kernel");
    options.require(s <= layer.context(), "kernel", "be <= the context " + layer.context());
    int d = c / heads;
    Ops tf = layer.tf();
    var wqkv = layer.params().matrix("w_qkv", c, 2L * c + heads);
    var wo = layer.params().outputMatrix("w_o", c, c);
    var kernel = layer.params().create("kernel", new long[] {heads, s}, Initializer.normal(1.0), false);
    var gamma = layer.params().create("gamma", new long[] {heads}, Initializer.zeros(), false);
    var beta = layer.params().create("beta", new long[] {heads}, Initializer.zeros(), false);
    Operand<TInt32> perHead = tf.constant(new int[] {heads, 1});

    Operand<TInt32> taps = tf.constant(1);
    Operand<TFloat32> centred = tf.math.sub(kernel, tf.math.mean(kernel, taps, Mean.keepDims(true)));
    Operand<TFloat32> variance = tf.math.mean(tf.math.square(centred), taps, Mean.keepDims(true));
    Operand<TFloat32> normalised = tf.math.mul(centred, tf.math.rsqrt(tf.math.add(variance, tf.constant(KERNEL_EPS))));
    Operand<TFloat32> bias = tf.math.add(tf.math.mul(tf.reshape(gamma, perHead), normalised), tf.reshape(beta, perHead)); // [h, s]
    Operand<TFloat32> max = tf.stopGradient(
        tf.math.maximum(tf.max(bias, taps, Max.keepDims(true)), tf.constant(0f))); // [h, 1]
    Operand<TFloat32> tapWeight = tf.math.exp(tf.math.sub(bias, max));
    Operand<TFloat32> outsideWeight = tf.reshape(tf.math.exp(tf.math.neg(max)), tf.constant(new int[] {1, 1, heads, 1}));
    // DepthwiseConv2dNative correlates: filter row j meets offset d = s - 1 - j after s - 1 steps of front padding
    Operand<TFloat32> filter = tf.reshape(
        tf.tile(
            tf.reshape(tf.linalg.transpose(tf.reverse(tapWeight, tf.constant(new int[] {1})), tf.constant(new int[] {1, 0})),
                tf.constant(new int[] {s, 1, heads, 1})),
            tf.constant(new int[] {1, 1, 1, d + 1})),
        tf.constant(new int[] {s, 1, heads * (d + 1), 1}));

    return x -> {
      Operand<TInt32> t = Layers.dim(tf, x, 1);
      Operand<TInt32> bt = tf.slice(tf.shape(x), tf.constant(new int[] {0}), tf.constant(new int[] {2}));
      List<Operand<TFloat32>> qkv = AftOps.qkv(tf, x, wqkv, c, heads, c);
      Operand<TFloat32> e = tf.expandDims(AftOps.scaledExp(tf, qkv.get(1)), tf.constant(3)); // [B, T, h, 1]
      Operand<TFloat32> v = tf.reshape(qkv.get(2), tf.concat(List.of(bt, tf.constant(new int[] {heads, d})), tf.constant(0)));
      Operand<TFloat32> terms = AftOps.terms(tf, e, v); // [B, T, h, D + 1]
      Operand<TFloat32> far = tf.math.mul(AftOps.delay(tf, tf.math.cumsum(terms, tf.constant(1)), s, t), outsideWeight);
      Operand<TFloat32> flat = tf.reshape(terms, tf.concat(List.of(bt, tf.constant(new int[] {1, heads * (d + 1)})), tf.constant(0)));
      Operand<TFloat32> near = tf.nn.depthwiseConv2dNative(
          AftOps.padFront(tf, flat, s - 1), filter, List.of(1L, 1L, 1L, 1L), "VALID");
      Operand<TFloat32> sums = tf.math.add(far,
          tf.reshape(near, tf.concat(List.of(bt, tf.constant(new int[] {heads, d + 1})), tf.constant(0))));
      var parts = tf.splitV(sums, tf.constant(new int[] {d, 1}), tf.constant(3), 2L);
      Operand<TFloat32> ratio = tf.math.div(parts.output().get(0), parts.output().get(1));
      return AftOps.readout(tf, qkv.get(0), tf.reshape(ratio, Layers.withLastDim(tf, x, c)), wo);
    };
  }
}
