package dev.leviathan.aft;

import dev.leviathan.core.ops.Layers;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Max;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Graph pieces shared by the Attention Free Transformer mixers: the stabilised exponential of the
 * keys, shifts along time, and the gated read-out.
 *
 * <h2>Stabilising {@code exp(k)} without breaking causality</h2>
 *
 * Every AFT output is a ratio {@code sum_u a_u exp(k_u) v_u / sum_u a_u exp(k_u)} per channel, so any
 * factor that multiplies all terms of a row cancels. The usual choice, subtracting the per-channel
 * maximum of {@code k} over the whole sequence, cancels only mathematically: {@code exp(k - M)} is
 * rounded differently for every {@code M}, so a new maximum arriving at a later position changes the
 * float32 bits of every earlier output, and a later key more than ~87 nats above the earlier ones makes
 * their terms underflow to 0 (earlier outputs become 0/0). A running maximum (over positions
 * {@code <= t}) is causal but is a different constant on every row, which turns the running sum into a
 * rescaled scan and the {@code exp(w) @ (exp(k) v)} matmul of {@code aft-full} into a
 * {@code [T, T, C]} tensor. (Measured: with {@code exp(k - max_t k)} the causality tests of this
 * module fail by one ulp, and keys spread over [-50, 50] give 0/0 at early positions.)
 *
 * <p>The shift used here is the per-channel maximum over time, detached, but applied as an exact power
 * of two, so that it cancels bit-exactly:
 *
 * <pre>
 *   n_u   = floor(k_u / ln 2)                        integer, from k_u alone     (stop-gradient)
 *   f_u   = exp(k_u - n_u ln 2)                      in [1, 2), from k_u alone
 *   N     = max_u n_u - HEADROOM (64)                per (sequence, channel)     (stop-gradient)
 *   e_u   = f_u * 2^(n_u - N)   = exp(k_u) 2^-N      the power of two is built from its bits
 * </pre>
 *
 * Multiplying by a power of two is exact in IEEE arithmetic, and so is every sum, product and quotient
 * of such scaled numbers (rounding is invariant under power-of-two scaling as long as results stay in
 * the normal range). The value {@code f_u} depends only on {@code k_u}, so changing later inputs can
 * change {@code N} but leaves every output at earlier positions bit-identical. The largest term is
 * {@code 2^64..2^65}; the headroom of 64 binary orders keeps terms up to ~131 nats below the maximum
 * in the normal range (and sums over {@code T <= 2^20} positions of {@code |v| < 2^40} finite), so keys
 * of any magnitude are handled, and key ranges up to ~131 nats within one sequence and channel are
 * exact. Only a range beyond that underflows the smallest terms, which then depend on the future
 * maximum, like any max-subtraction scheme. The gradient is that of {@code exp(k) 2^-N}: {@code n} and
 * the scale are constants.
 */
final class AftOps {
  /** Binary orders of magnitude between the largest scaled term and 1. */
  static final int HEADROOM = 64;

  /** ln 2 = LN2_HI + LN2_LO; the low 9 mantissa bits of LN2_HI are 0, so {@code n * LN2_HI} is exact for |n| < 512. */
  private static final float LN2_HI = 0.693145751953125f;
  private static final float LN2_LO = (float) (Math.log(2.0) - 0.693145751953125);
  private static final float INV_LN2 = (float) (1.0 / Math.log(2.0));
  /** 2^23: one unit of the float32 exponent field. */
  private static final float EXPONENT_UNIT = 8388608f;

  private AftOps() {}

  /**
   * {@code exp(k) * 2^-N}, {@code N} per (sequence, channel) as in the class comment; {@code k} is
   * {@code [B, T, K]} and the maximum runs over the time axis 1.
   */
  static Operand<TFloat32> scaledExp(Ops tf, Operand<TFloat32> k) {
    Operand<TFloat32> n = tf.stopGradient(tf.math.floor(tf.math.mul(tf.stopGradient(k), tf.constant(INV_LN2))));
    // k - n ln 2 in two steps (Cody-Waite), so the reduced argument keeps the precision of k
    Operand<TFloat32> reduced = tf.math.sub(
        tf.math.sub(k, tf.math.mul(n, tf.constant(LN2_HI))), tf.math.mul(n, tf.constant(LN2_LO)));
    Operand<TFloat32> f = tf.math.exp(reduced);
    Operand<TFloat32> shift = tf.math.sub(tf.max(n, tf.constant(1), Max.keepDims(true)), tf.constant((float) HEADROOM));
    // biased exponent of 2^(n - N): n - N + 127 in [0, 127 + HEADROOM]; 0 encodes +0.0 (negligible terms)
    Operand<TFloat32> biased = tf.math.maximum(tf.math.add(tf.math.sub(n, shift), tf.constant(127f)), tf.constant(0f));
    Operand<TInt32> bits = tf.dtypes.cast(tf.math.mul(biased, tf.constant(EXPONENT_UNIT)), TInt32.class);
    Operand<TFloat32> scale = tf.stopGradient(tf.bitcast(bits, TFloat32.class));
    return tf.math.mul(f, scale);
  }

  /**
   * {@code x} delayed by {@code d} steps along time: {@code out[:, t] = x[:, t - d]}, zeros for
   * {@code t < d}. {@code x} is {@code [B, T, ...]}, {@code t} its run-time length.
   */
  static Operand<TFloat32> delay(Ops tf, Operand<TFloat32> x, int d, Operand<TInt32> t) {
    return window(tf, padFront(tf, x, d), 0, t);
  }

  /** {@code x} with {@code d} zero steps in front of the time axis 1. */
  static Operand<TFloat32> padFront(Ops tf, Operand<TFloat32> x, int d) {
    int rank = x.shape().numDimensions();
    int[][] paddings = new int[rank][2];
    paddings[1][0] = d;
    return tf.pad(x, tf.constant(paddings), tf.constant(0f));
  }

  /** {@code t} steps of {@code x} along time, starting at step {@code start}. */
  static Operand<TFloat32> window(Ops tf, Operand<TFloat32> x, int start, Operand<TInt32> t) {
    int rank = x.shape().numDimensions();
    int[] begin = new int[rank];
    begin[1] = start;
    Operand<TInt32> size = rank == 3
        ? tf.stack(List.of(tf.constant(-1), t, tf.constant(-1)))
        : tf.stack(List.of(tf.constant(-1), t, tf.constant(-1), tf.constant(-1)));
    return tf.slice(x, tf.constant(begin), size);
  }

  /** The first {@code rows} rows of a {@code [R, S]} matrix (all columns). */
  static Operand<TFloat32> firstRows(Ops tf, Operand<TFloat32> m, Operand<TInt32> rows) {
    return tf.slice(m, tf.constant(new int[] {0, 0}), tf.stack(List.of(rows, tf.constant(-1))));
  }

  /** {@code [x ⊙ e, e]} along the last axis: numerator and denominator terms side by side. */
  static Operand<TFloat32> terms(Ops tf, Operand<TFloat32> e, Operand<TFloat32> v) {
    int last = v.shape().numDimensions() - 1;
    return tf.concat(List.of(tf.math.mul(e, v), e), tf.constant(last));
  }

  /**
   * Splits {@code [num, den]} (equal halves of the last axis of a {@code [B, T, 2C]} tensor) and
   * returns {@code num / den}.
   */
  static Operand<TFloat32> ratio(Ops tf, Operand<TFloat32> numDen) {
    var parts = tf.split(tf.constant(2), numDen, 2L);
    return tf.math.div(parts.output().get(0), parts.output().get(1));
  }

  /** The gated read-out {@code (sigmoid(q) ⊙ ratio) W_o}. */
  static Operand<TFloat32> readout(Ops tf, Operand<TFloat32> q, Operand<TFloat32> ratio, Operand<TFloat32> wo) {
    return Layers.linear(tf, tf.math.mul(tf.math.sigmoid(q), ratio), wo, null);
  }

  /** {@code x W_qkv} split into {@code q, k, v} of the given widths along the last axis. */
  static List<Operand<TFloat32>> qkv(Ops tf, Operand<TFloat32> x, Operand<TFloat32> wqkv, int q, int k, int v) {
    Operand<TFloat32> all = Layers.linear(tf, x, wqkv, null);
    var parts = tf.splitV(all, tf.constant(new int[] {q, k, v}), tf.constant(2), 3L);
    return List.of(parts.output().get(0), parts.output().get(1), parts.output().get(2));
  }
}
