package dev.leviathan.aft;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.RecurrentTokenMixer;
import java.util.List;
import java.util.function.IntFunction;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Squeeze;
import org.tensorflow.op.core.StridedSlice;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Graph pieces shared by the Attention Free Transformer mixers: the causal running maximum of the
 * keys, the rescaled prefix sums, the windowed sums of aft-local and aft-conv, shifts along time and
 * the gated read-out.
 *
 * <h2>A causal shift of the keys</h2>
 *
 * Every AFT output is a ratio {@code sum_{u <= t} a_tu exp(k_u) v_u / sum_{u <= t} a_tu exp(k_u)} per
 * channel, so any factor {@code exp(-m_t)} that multiplies all terms of row t cancels. Here
 * {@code m_t = max_{u <= t} k_u}, the running maximum over time per (sequence, channel), detached. It
 * depends only on positions {@code <= t}, so the output at t is computed from positions {@code <= t}
 * alone (bit-exact causality, whatever later keys do), and every term is {@code exp(k_u - m_t) <= 1}
 * with the largest equal to 1: no overflow, and no 0/0, for keys of any finite size and spread. Terms
 * more than ~87 nats below the running maximum underflow to 0, where their weight is below float
 * precision anyway.
 *
 * <p>The running maximum is a Hillis-Steele scan ({@code ceil(log2 context)} steps of
 * {@code m = max(m, m delayed by 2^i)}). The prefix sums in the scale of each row,
 * {@code S_t = sum_{u <= t} exp(k_u - m_t) x_u}, obey {@code S_t = exp(m_{t-1} - m_t) S_{t-1} +
 * exp(k_t - m_t) x_t}, a linear recurrence with decays {@code <= 1}, computed by the same kind of scan
 * on pairs (decay product, sum): {@code S += A ⊙ (S delayed by 2^i)}, {@code A *= A delayed by 2^i}.
 * Both cost {@code O(T C log T)} time; the backward pass keeps one {@code [B, T, 2C]} tensor per step.
 *
 * <p>Shapes: keys {@code k} are {@code [B, T, K, 1]} (K keys, one per channel or per head) and values
 * {@code v} are {@code [B, T, K, D]} (the D channels sharing a key); the sums carry numerator and
 * denominator side by side, {@code [B, T, K, D + 1]}.
 */
final class AftOps {
  /** Stands for minus infinity in shifted keys: {@code exp(NEG - m) = 0} for every finite m, without NaN. */
  static final float NEG = -Float.MAX_VALUE;

  private AftOps() {}

  /**
   * A mixer whose parallel pass can also return its generation state: {@link #apply} and
   * {@link #prefill} are the same graph, with the state left out or kept.
   */
  abstract static class ParallelAndStep implements RecurrentTokenMixer {
    /** The outputs of {@code x [B, T, C]} and, when {@code withState}, the state after position T-1. */
    abstract Step run(Operand<TFloat32> x, boolean withState);

    @Override
    public final Operand<TFloat32> apply(Operand<TFloat32> x) {
      return run(x, false).output();
    }

    @Override
    public final Step prefill(Operand<TFloat32> x) {
      return run(x, true);
    }
  }

  /** Number of doubling steps a scan needs to cover {@code context} positions. */
  static int levels(int context) {
    int n = 0;
    while ((1L << n) < context) {
      n++;
    }
    return n;
  }

  /** {@code max_{u <= t} k_u} along time (axis 1), detached. */
  static Operand<TFloat32> runningMax(Ops tf, Operand<TFloat32> k, int context) {
    Operand<TFloat32> m = tf.stopGradient(k);
    for (int i = 0; i < levels(context); i++) {
      m = tf.math.maximum(m, delay(tf, m, 1 << i, NEG));
    }
    return tf.stopGradient(m);
  }

  /** {@code [exp(k - m) ⊙ v, exp(k - m)]} along the last axis. */
  static Operand<TFloat32> terms(Ops tf, Operand<TFloat32> k, Operand<TFloat32> m, Operand<TFloat32> v) {
    Operand<TFloat32> e = tf.math.exp(tf.math.sub(k, m));
    return tf.concat(List.of(tf.math.mul(e, v), e), tf.constant(-1));
  }

  /**
   * {@code S_t = sum_{u <= t} exp(k_u - m_t) [v_u, 1]} for keys {@code [B, T, K, 1]}, their running
   * maximum {@code m} and values {@code [B, T, K, D]}: the scan of the class comment.
   */
  static Operand<TFloat32> prefixSums(Ops tf, Operand<TFloat32> k, Operand<TFloat32> m, Operand<TFloat32> v, int context) {
    // exp(m_{t-1} - m_t), 0 at t = 0; constants of the scan (m is detached)
    Operand<TFloat32> decay = tf.stopGradient(tf.math.exp(tf.math.sub(delay(tf, m, 1, NEG), m)));
    Operand<TFloat32> sums = terms(tf, k, m, v);
    int n = levels(context);
    for (int i = 0; i < n; i++) {
      sums = tf.math.add(sums, tf.math.mul(decay, delay(tf, sums, 1 << i, 0f)));
      if (i + 1 < n) {
        decay = tf.math.mul(decay, delay(tf, decay, 1 << i, 0f));
      }
    }
    return sums;
  }

  /** Sums {@code [B, T, K, D + 1]} and the state after the last position. */
  record Sums(Operand<TFloat32> sums, List<Operand<TFloat32>> state) {}

  /**
   * The windowed AFT sums of aft-local and aft-conv, in the scale {@code exp(-m_t)}:
   *
   * <pre>
   *   exp(far_t) exp(m_{t-s} - m_t) S_{t-s}  +  sum_{d < s} exp(k_{t-d} + near(d)_t - m_t) [v_{t-d}, 1]
   * </pre>
   *
   * with {@code S} the {@link #prefixSums}, {@code near(d)} the log weight of offset d (broadcast
   * against {@code [B, T, K, 1]}) and {@code far} that of every position further back. The state is
   * that of {@link #windowStep} after the last position.
   */
  static Sums windowSums(Ops tf, Operand<TFloat32> k, Operand<TFloat32> v, int s,
      IntFunction<Operand<TFloat32>> near, Operand<TFloat32> far, int context, boolean withState) {
    Operand<TFloat32> m = runningMax(tf, k, context);
    Operand<TFloat32> prefix = prefixSums(tf, k, m, v, context);
    // every position up to t - s, in the scale exp(-m_t)
    Operand<TFloat32> before = tf.math.mul(
        tf.stopGradient(tf.math.exp(tf.math.sub(delay(tf, m, s, NEG), m))), delay(tf, prefix, s, 0f));
    Operand<TFloat32> sums = tf.math.mul(tf.math.exp(far), before);
    Operand<TFloat32> paddedK = padFront(tf, k, s - 1, NEG);
    Operand<TFloat32> paddedV = padFront(tf, withOnes(tf, v), s - 1, 0f);
    for (int d = 0; d < s; d++) {
      Operand<TFloat32> e = tf.math.exp(tf.math.sub(tf.math.add(between(tf, paddedK, s - 1 - d, d), near.apply(d)), m));
      sums = tf.math.add(sums, tf.math.mul(e, between(tf, paddedV, s - 1 - d, d)));
    }
    if (!withState) {
      return new Sums(sums, List.of());
    }
    // the last s positions (padding where t < s) and everything before them
    Operand<TInt32> t = Layers.dim(tf, k, 1);
    Operand<TInt32> zero = tf.constant(0);
    Operand<TInt32> begin = tf.stack(List.of(zero, tf.math.sub(t, tf.constant(1)), zero, zero));
    Operand<TInt32> size = tf.constant(new int[] {-1, s, -1, -1});
    List<Operand<TFloat32>> state = List.of(
        tf.slice(paddedK, begin, size), tf.slice(paddedV, begin, size), last(tf, before, t), last(tf, m, t));
    return new Sums(sums, state);
  }

  /**
   * One position of {@link #windowSums}: keys {@code [B, K, 1]}, values {@code [B, K, D]}, the state
   * after the previous position ({@code [B, s, K, 1]} keys and {@code [B, s, K, D + 1]} value terms of
   * the last s positions, the sums of every position before them and the running maximum, both in the
   * scale of that maximum), {@code nearByIndex [1, s, K or 1, 1]} the log weights of the window
   * positions oldest first, and {@code far} (broadcast against {@code [B, K, 1]}).
   */
  static Sums windowStep(Ops tf, Operand<TFloat32> k, Operand<TFloat32> v, List<Operand<TFloat32>> state,
      Operand<TFloat32> nearByIndex, Operand<TFloat32> far) {
    Operand<TFloat32> keys = state.get(0), values = state.get(1), before = state.get(2), max = state.get(3);
    Operand<TFloat32> m = tf.math.maximum(max, k);
    Operand<TInt32> first = tf.constant(new int[] {-1, 1, -1, -1});
    Operand<TInt32> origin = tf.constant(new int[] {0, 0, 0, 0});
    Operand<TInt32> rest = tf.constant(new int[] {0, 1, 0, 0});
    Operand<TInt32> all = tf.constant(new int[] {-1, -1, -1, -1});
    Squeeze.Options time = Squeeze.axis(List.of(1L));
    // the oldest window position joins the sums before the window
    Operand<TFloat32> oldK = tf.squeeze(tf.slice(keys, origin, first), time);
    Operand<TFloat32> oldV = tf.squeeze(tf.slice(values, origin, first), time);
    Operand<TFloat32> nextBefore = tf.math.add(tf.math.mul(before, tf.math.exp(tf.math.sub(max, m))),
        tf.math.mul(tf.math.exp(tf.math.sub(oldK, m)), oldV));
    Operand<TInt32> timeAxis = tf.constant(1);
    Operand<TFloat32> nextKeys = tf.concat(List.of(tf.slice(keys, rest, all), tf.expandDims(k, timeAxis)), timeAxis);
    Operand<TFloat32> nextValues = tf.concat(
        List.of(tf.slice(values, rest, all), tf.expandDims(withOnes(tf, v), timeAxis)), timeAxis);
    Operand<TFloat32> e = tf.math.exp(tf.math.sub(tf.math.add(nextKeys, nearByIndex), tf.expandDims(m, timeAxis)));
    Operand<TFloat32> sums = tf.math.add(tf.math.mul(tf.math.exp(far), nextBefore),
        tf.sum(tf.math.mul(e, nextValues), timeAxis));
    return new Sums(sums, List.of(nextKeys, nextValues, nextBefore, m));
  }

  /**
   * One position of {@link #prefixSums}: keys {@code [B, K, 1]}, values {@code [B, K, D]} and the state
   * after the previous position ({@code [B, K, D + 1]} sums in the scale of the running maximum
   * {@code [B, K, 1]}).
   */
  static Sums prefixStep(Ops tf, Operand<TFloat32> k, Operand<TFloat32> v, List<Operand<TFloat32>> state) {
    Operand<TFloat32> m = tf.math.maximum(state.get(1), k);
    Operand<TFloat32> sums = tf.math.add(
        tf.math.mul(state.get(0), tf.math.exp(tf.math.sub(state.get(1), m))), terms(tf, k, m, v));
    return new Sums(sums, List.of(sums, m));
  }

  /** {@code [v, 1]} along the last axis. */
  static Operand<TFloat32> withOnes(Ops tf, Operand<TFloat32> v) {
    Operand<TInt32> lead = tf.stridedSlice(tf.shape(v), tf.constant(new int[] {0}), tf.constant(new int[] {-1}),
        tf.constant(new int[] {1}));
    Operand<TFloat32> ones = tf.fill(tf.concat(List.of(lead, tf.constant(new int[] {1})), tf.constant(0)), tf.constant(1f));
    return tf.concat(List.of(v, ones), tf.constant(-1));
  }

  /**
   * {@code x} delayed by {@code d} steps along time: {@code out[:, t] = x[:, t - d]}, {@code fill} for
   * {@code t < d}. {@code x} is {@code [B, T, ...]}, {@code t} its run-time length.
   */
  static Operand<TFloat32> delay(Ops tf, Operand<TFloat32> x, int d, float fill) {
    return between(tf, padFront(tf, x, d, fill), 0, d);
  }

  /** {@code x[:, start : T - dropEnd]} along time (axis 1), one StridedSlice. */
  static Operand<TFloat32> between(Ops tf, Operand<TFloat32> x, int start, int dropEnd) {
    int rank = x.shape().numDimensions();
    int[] begin = new int[rank];
    int[] end = new int[rank];
    int[] strides = new int[rank];
    java.util.Arrays.fill(strides, 1);
    begin[1] = start;
    end[1] = -dropEnd;
    long others = ((1L << rank) - 1) & ~2L;
    return tf.stridedSlice(x, tf.constant(begin), tf.constant(end), tf.constant(strides),
        StridedSlice.beginMask(start == 0 ? others | 2L : others), StridedSlice.endMask(dropEnd == 0 ? others | 2L : others));
  }

  /** {@code x} with {@code d} steps of {@code fill} in front of the time axis 1. */
  static Operand<TFloat32> padFront(Ops tf, Operand<TFloat32> x, int d, float fill) {
    int rank = x.shape().numDimensions();
    int[][] paddings = new int[rank][2];
    paddings[1][0] = d;
    return tf.pad(x, tf.constant(paddings), tf.constant(fill));
  }

  /** {@code t} steps of {@code x} along time, starting at step {@code start}. */
  static Operand<TFloat32> window(Ops tf, Operand<TFloat32> x, int start, Operand<TInt32> t) {
    int rank = x.shape().numDimensions();
    int[] begin = new int[rank];
    begin[1] = start;
    Operand<TInt32> minusOne = tf.constant(-1);
    List<Operand<TInt32>> size = new java.util.ArrayList<>();
    for (int i = 0; i < rank; i++) {
      size.add(i == 1 ? t : minusOne);
    }
    return tf.slice(x, tf.constant(begin), tf.stack(size));
  }

  /** The first {@code rows} rows of a {@code [R, S]} matrix (all columns). */
  static Operand<TFloat32> firstRows(Ops tf, Operand<TFloat32> m, Operand<TInt32> rows) {
    return tf.slice(m, tf.constant(new int[] {0, 0}), tf.stack(List.of(rows, tf.constant(-1))));
  }

  /** Splits {@code [num, den]} ({@code [..., D + 1]}) and returns {@code num / den} ({@code [..., D]}). */
  static Operand<TFloat32> ratio(Ops tf, Operand<TFloat32> sums, int d) {
    var parts = tf.splitV(sums, tf.constant(new int[] {d, 1}), tf.constant(-1), 2L);
    return tf.math.div(parts.output().get(0), parts.output().get(1));
  }

  /** The gated read-out {@code (sigmoid(q) ⊙ ratio) W_o}. */
  static Operand<TFloat32> readout(Ops tf, Operand<TFloat32> q, Operand<TFloat32> ratio, Operand<TFloat32> wo) {
    return Layers.linear(tf, tf.math.mul(tf.math.sigmoid(q), ratio), wo, null);
  }

  /** {@code x W_qkv} split into {@code q, k, v} of the given widths along the last axis. */
  static List<Operand<TFloat32>> qkv(Ops tf, Operand<TFloat32> x, Operand<TFloat32> wqkv, int q, int k, int v) {
    Operand<TFloat32> all = Layers.linear(tf, x, wqkv, null);
    var parts = tf.splitV(all, tf.constant(new int[] {q, k, v}), tf.constant(-1), 3L);
    return List.of(parts.output().get(0), parts.output().get(1), parts.output().get(2));
  }

  /** {@code x} with its last axis split into {@code [K, D]}. */
  static Operand<TFloat32> splitLast(Ops tf, Operand<TFloat32> x, int keys, int d) {
    int rank = x.shape().numDimensions();
    Operand<TInt32> lead = tf.slice(tf.shape(x), tf.constant(new int[] {0}), tf.constant(new int[] {rank - 1}));
    return tf.reshape(x, tf.concat(List.of(lead, tf.constant(new int[] {keys, d})), tf.constant(0)));
  }

  /** Position {@code t - 1} of {@code x [B, T, ...]} (rank 4), without the time axis. */
  static Operand<TFloat32> last(Ops tf, Operand<TFloat32> x, Operand<TInt32> t) {
    Operand<TInt32> zero = tf.constant(0);
    Operand<TFloat32> slice = tf.slice(x, tf.stack(List.of(zero, tf.math.sub(t, tf.constant(1)), zero, zero)),
        tf.constant(new int[] {-1, 1, -1, -1}));
    return tf.squeeze(slice, Squeeze.axis(List.of(1L)));
  }
}
