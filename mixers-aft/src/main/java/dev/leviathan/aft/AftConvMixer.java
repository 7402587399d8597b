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
 * {@code cumsum(a)_{t-s} + sum_{d < s} exp(w~_i[d]) a_{t-d}} (a masked band product over the s taps),
 * which has no {@code exp(w~) - 1} terms to cancel against the running sum. Row t of head i is scaled
 * by {@code exp(-m_t - r_i)}: {@code m_t} the causal running maximum of the head's key (see
 * {@link AftOps}; it differs from row to row, which is why the taps are a band product per chunk of
 * rows, {@link AftOps#windowSums}, and not one convolution), {@code r_i = max(0, max_d w~_i[d])} (the
 * 0 stands for the positions beyond the kernel); both detached, they cancel in the ratio, and every
 * weight is {@code <= 1}. Cost O(T C (s + log T)) time, O(T s C) memory per sequence.
 *
 * <p>Generation carries the keys and value terms of the last s positions, the sums of every position
 * before them and the running maximum (constant size); nothing depends on the absolute position.
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
    return "causal 1-D AFT-conv: per-head causal convolution of exp(k) ⊙ v over s taps plus a running sum, O(T s C)";
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
    Operand<TFloat32> logTap = tf.math.sub(bias, max); // [h, s]
    Operand<TFloat32> logOutside = tf.reshape(tf.math.neg(max), tf.constant(new int[] {1, 1, heads, 1}));
    Operand<TFloat32> nearTaps = tf.reshape(tf.linalg.transpose(logTap, tf.constant(new int[] {1, 0})),
        tf.constant(new int[] {1, s, heads})); // [1, s, h]
    // the taps by window position, oldest (offset s - 1) first, for one step: [1, s, h, 1]
    Operand<TFloat32> tapsByIndex = tf.reshape(
        tf.linalg.transpose(tf.reverse(logTap, tf.constant(new int[] {1})), tf.constant(new int[] {1, 0})),
        tf.constant(new int[] {1, s, heads, 1}));
    int context = layer.context();

    return new AftOps.ParallelAndStep() {
      @Override
      Step run(Operand<TFloat32> x, boolean withState) {
        List<Operand<TFloat32>> qkv = AftOps.qkv(tf, x, wqkv, c, heads, c);
        AftOps.Sums sums = AftOps.windowSums(tf, AftOps.splitLast(tf, qkv.get(1), heads, 1),
            AftOps.splitLast(tf, qkv.get(2), heads, d), s, nearTaps,
            logOutside, context, withState);
        return new Step(readout(qkv.get(0), sums.sums()), sums.state());
      }

      @Override
      public Step step(Operand<TFloat32> xt, Operand<TInt32> position, List<Operand<TFloat32>> state) {
        if (state.size() != 4) {
          throw new IllegalArgumentException("aft-conv carries four state tensors (window keys, window values,"
              + " sums before the window, running maximum), got " + state.size());
        }
        List<Operand<TFloat32>> qkv = AftOps.qkv(tf, xt, wqkv, c, heads, c);
        AftOps.Sums sums = AftOps.windowStep(tf, AftOps.splitLast(tf, qkv.get(1), heads, 1),
            AftOps.splitLast(tf, qkv.get(2), heads, d), state, tapsByIndex,
            tf.reshape(logOutside, tf.constant(new int[] {1, heads, 1})));
        return new Step(readout(qkv.get(0), sums.sums()), sums.state());
      }

      private Operand<TFloat32> readout(Operand<TFloat32> q, Operand<TFloat32> sums) {
        return AftOps.readout(tf, q, tf.reshape(AftOps.ratio(tf, sums, d, -1), Layers.withLastDim(tf, q, c)), wo);
      }
    };
  }
}
