package dev.leviathan.aft;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.ops.NativeLayers;
import dev.leviathan.core.spi.RecurrentTokenMixer;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Squeeze;
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
 * <p>The prefix sums in the scale of each row, {@code S_t = sum_{u <= t} exp(k_u - m_t) x_u}, are
 * computed either as a Hillis-Steele scan of their linear recurrence over time ({@link #prefixScan},
 * aft-simple; channels last), or by chunks of {@link #CHUNK} positions ({@link #chunked}, under the
 * band of aft-local and aft-conv): a masked pair-wise product inside each chunk and a {@code log2}-step
 * scan over the chunks for what comes before, in {@code O(T C (c + log(T / c)))} time. Every op is a
 * Pad, Slice, Reshape, element-wise op, reduction or small product, whose gradients are cheap. The
 * running maximum alone is a Hillis-Steele scan ({@code m = max(m, m delayed by 2^i)}), forward only.
 * Sums with a position weight over every earlier position (aft-full, and aft-local up to a context of
 * {@link AftLocalMixer#DENSE_MAX_CONTEXT}) are {@link DyadicMix}'s.
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

  /**
   * {@code [exp(k - m) ⊙ v; exp(k - m)]} stacked along the axis before the channels: keys and maximum
   * {@code [..., 1, N]}, values {@code [..., R, N]}, terms {@code [..., R + 1, N]}.
   */
  static Operand<TFloat32> terms(Ops tf, Operand<TFloat32> k, Operand<TFloat32> m, Operand<TFloat32> v) {
    Operand<TFloat32> e = tf.math.exp(tf.math.sub(k, m));
    return tf.concat(List.of(tf.math.mul(e, v), e), tf.constant(-2));
  }

  /** Positions per chunk of the chunked scan. */
  static final int CHUNK = 8;

  /**
   * Keys {@code [B, T, K, 1]} and value terms {@code [v, 1]} ({@code [B, T, K, D + 1]}) cut into
   * {@code n = ceil(T / CHUNK)} chunks ({@code [B, n, K, CHUNK, .]}; keys and values padded with 0 at
   * the end, which only reaches rows {@code >= T}), with the running maximum {@code m} and the prefix
   * sums {@code S} of the class comment in the same layout, and the run-time length {@code t}.
   */
  record Chunked(Operand<TFloat32> k, Operand<TFloat32> v, Operand<TFloat32> m, Operand<TFloat32> sums,
      Operand<TInt32> t) {
    /** A chunked {@code [B, n, K, CHUNK, L]} tensor back as {@code [B, T, K, L]}. */
    Operand<TFloat32> flat(Ops tf, Operand<TFloat32> x) {
      Operand<TFloat32> byTime = tf.linalg.transpose(x, tf.constant(new int[] {0, 1, 3, 2, 4}));
      return window(tf, tf.reshape(byTime,
          tf.stack(List.of(Layers.dim(tf, x, 0), tf.constant(-1), Layers.dim(tf, x, 2), Layers.dim(tf, x, 4)))), 0, t);
    }
  }

  /** {@code x [B, T, K, L]} padded with 0 at the end of time to {@code n CHUNK} and cut into {@code [B, n, K, CHUNK, L]}. */
  private static Operand<TFloat32> chunk(Ops tf, Operand<TFloat32> x, Operand<TInt32> t, Operand<TInt32> n) {
    Operand<TInt32> zero = tf.constant(0);
    Operand<TInt32> paddings = tf.reshape(tf.stack(List.of(zero, zero, zero,
        tf.math.sub(tf.math.mul(n, tf.constant(CHUNK)), t), zero, zero, zero, zero)), tf.constant(new int[] {4, 2}));
    Operand<TFloat32> chunks = tf.reshape(tf.pad(x, paddings, tf.constant(0f)), tf.stack(List.of(Layers.dim(tf, x, 0), n,
        tf.constant(CHUNK), Layers.dim(tf, x, 2), Layers.dim(tf, x, 3))));
    return tf.linalg.transpose(chunks, tf.constant(new int[] {0, 1, 3, 2, 4}));
  }

  /** Keys {@code [B, n, K, R, 1]} as a row, {@code [B, n, K, 1, R]}. */
  private static Operand<TFloat32> asRow(Ops tf, Operand<TFloat32> keys) {
    Operand<TInt32> lead = tf.slice(tf.shape(keys), tf.constant(new int[] {0}), tf.constant(new int[] {3}));
    return tf.reshape(keys, tf.concat(List.of(lead, tf.constant(new int[] {1, -1})), tf.constant(0)));
  }

  /** {@code [rows, cols]}: 0 where {@code 0 <= offset + i - j < span}, else {@link #NEG}. */
  private static Operand<TFloat32> bandMask(Ops tf, int rows, int cols, int offset, int span) {
    float[][] mask = new float[rows][cols];
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        int d = offset + i - j;
        mask[i][j] = d >= 0 && d < span ? 0f : NEG;
      }
    }
    return tf.constant(mask);
  }

  /** Row {@code CHUNK - 1} of each chunk, {@code [B, n, K, 1, L]}. */
  private static Operand<TFloat32> lastRow(Ops tf, Operand<TFloat32> x) {
    return tf.slice(x, tf.constant(new int[] {0, 0, 0, CHUNK - 1, 0}), tf.constant(new int[] {-1, -1, -1, 1, -1}));
  }

  /**
   * The running maximum and the prefix sums {@code S_t = sum_{u <= t} exp(k_u - m_t) [v_u, 1]} of keys
   * {@code [B, T, K, 1]} and values {@code [B, T, K, D]}, by chunks of c = {@link #CHUNK} positions.
   * With {@code M_j} the maximum of the keys of chunks {@code < j} (detached, {@code -inf} for j = 0)
   * and {@code P_j = sum_{u < jc} exp(k_u - M_j) [v_u, 1]}, position {@code t = jc + i} gets
   *
   * <pre>
   *   S_t = exp(M_j - m_t) P_j + sum_{jc <= u <= t} exp(k_u - m_t) [v_u, 1]     (a masked c x c matmul per chunk)
   *   P_{j+1} = exp(M_j - M_{j+1}) P_j + S_{jc + c - 1}                          (a scan over the chunks)
   * </pre>
   *
   * every factor {@code <= 1}. The maxima within a chunk are a masked c x c maximum, those over chunks
   * a {@code log2}-step scan; both are detached and only run forward. Time O(T C (c + log(T / c))).
   */
  static Chunked chunked(Ops tf, Operand<TFloat32> k, Operand<TFloat32> v, int context) {
    Operand<TInt32> t = Layers.dim(tf, k, 1);
    Operand<TInt32> n = tf.math.floorDiv(tf.math.add(t, tf.constant(CHUNK - 1)), tf.constant(CHUNK));
    Operand<TFloat32> kc = chunk(tf, k, t, n); // [B, n, K, c, 1]
    Operand<TFloat32> vc = chunk(tf, withOnes(tf, v), t, n); // [B, n, K, c, D + 1]
    Operand<TFloat32> causal = bandMask(tf, CHUNK, CHUNK, 0, CHUNK);
    Operand<TFloat32> row = asRow(tf, kc); // [B, n, K, 1, c]
    // running maximum within each chunk, then over the chunks before
    Operand<TFloat32> inChunk = tf.max(tf.math.add(tf.stopGradient(row), causal), tf.constant(4),
        org.tensorflow.op.core.Max.keepDims(true)); // [B, n, K, c, 1]
    Operand<TFloat32> chunkMax = lastRow(tf, inChunk); // [B, n, K, 1, 1]
    int chunkLevels = levels((context + CHUNK - 1) / CHUNK);
    for (int i = 0; i < chunkLevels; i++) {
      chunkMax = tf.math.maximum(chunkMax, delay(tf, chunkMax, 1 << i, NEG));
    }
    Operand<TFloat32> before = delay(tf, chunkMax, 1, NEG); // M_j
    Operand<TFloat32> m = tf.stopGradient(tf.math.maximum(before, inChunk));
    // within each chunk: exp(k_u - m_t) for u <= t
    Operand<TFloat32> e = tf.math.exp(tf.math.add(tf.math.sub(row, m), causal)); // [B, n, K, c, c]
    Operand<TFloat32> own = tf.train.batchMatMul(e, vc, TFloat32.class); // [B, n, K, c, D + 1]
    // carries: Q_j = P_{j+1} = a_j Q_{j-1} + (row c - 1 of chunk j), a_j = exp(M_j - M_{j+1})
    Operand<TFloat32> carry = lastRow(tf, own);
    Operand<TFloat32> decay = tf.stopGradient(tf.math.exp(tf.math.sub(before, chunkMax)));
    for (int i = 0; i < chunkLevels; i++) {
      carry = tf.math.add(carry, tf.math.mul(decay, delay(tf, carry, 1 << i, 0f)));
      if (i + 1 < chunkLevels) {
        decay = tf.math.mul(decay, delay(tf, decay, 1 << i, 0f));
      }
    }
    Operand<TFloat32> scale = tf.stopGradient(tf.math.exp(tf.math.sub(before, m)));
    Operand<TFloat32> sums = tf.math.add(tf.math.mul(scale, delay(tf, carry, 1, 0f)), own);
    return new Chunked(kc, vc, m, sums, t);
  }

  /** Prefix sums {@code [B, T, R + 1, N]} and the running maximum {@code [B, T, 1, N]}, by time. */
  record Prefix(Operand<TFloat32> sums, Operand<TFloat32> m) {}

  /**
   * The prefix sums {@code S_t = sum_{u <= t} exp(k_u - m_t) [v_u; 1]} of keys {@code [B, T, 1, N]}
   * and values {@code [B, T, R, N]} (channels last, so every broadcast runs along whole rows of N) as
   * the linear recurrence
   *
   * <pre>
   *   S_t = a_t S_{t-1} + exp(k_t - m_t) [v_t; 1],   a_t = exp(m_{t-1} - m_t) <= 1   (detached)
   * </pre>
   *
   * solved by a Hillis-Steele scan over time: at level i ({@code d = 2^i}),
   * {@code S_t += A_t S_{t-d}} and {@code A_t *= A_{t-d}}, where {@code A_t} is the product of the
   * {@code a} over the {@code 2^i} positions ending at t. {@code log2(context)} levels of element-wise
   * ops, no per-chunk products: O(T N log T) time, O(T N) memory per level. Every factor is
   * {@code <= 1} and only positions {@code <= t} reach {@code S_t}. The sums are
   * {@code [B, T, R + 1, N]}, the denominator last.
   *
   * <p>The shifts are {@link #rotate}s: {@code a_0 = exp(NEG - m_0) = 0}, so by induction {@code A_t = 0}
   * exactly for {@code t < 2^i} at level i, and what wraps around to the front is multiplied by that 0. The
   * result is bit for bit that of shifts filled with 0.
   */
  static Prefix prefixScan(Ops tf, Operand<TFloat32> k, Operand<TFloat32> v, int context) {
    Operand<TFloat32> m = runningMax(tf, k, context);
    Operand<TFloat32> a = tf.stopGradient(tf.math.exp(tf.math.sub(delay(tf, m, 1, NEG), m)));
    Operand<TFloat32> sums = terms(tf, k, m, v);
    int levels = levels(context);
    for (int i = 0; i < levels; i++) {
      sums = tf.math.add(sums, tf.math.mul(a, rotate(tf, sums, 1 << i)));
      if (i + 1 < levels) {
        a = tf.math.mul(a, rotate(tf, a, 1 << i));
      }
    }
    return new Prefix(sums, m);
  }

  /** Sums {@code [B, T, K, D + 1]} and the state after the last position. */
  record Sums(Operand<TFloat32> sums, List<Operand<TFloat32>> state) {}

  /**
   * The windowed AFT sums of aft-local and aft-conv, in the scale {@code exp(-m_t)}:
   *
   * <pre>
   *   exp(far_t) exp(m_{t-s} - m_t) S_{t-s}  +  sum_{d < s} exp(k_{t-d} + near[t, d] - m_t) [v_{t-d}, 1]
   * </pre>
   *
   * with {@code S} the prefix sums of {@link #chunked}, {@code near} the log weight of offset d at row
   * t ({@code [Tn, s, Kn]}: Tn = 1 for every row alike, else at least the context rounded up to
   * {@link #CHUNK} rows; Kn = 1 or K) and {@code far} that of every position further back (broadcast
   * against {@code [B, T, K, 1]}). The window is one masked product per chunk: the c rows of chunk j
   * against the {@code (r + 1) c} positions of chunks {@code j - r .. j}, {@code r = ceil((s - 1) / c)}.
   * The state is that of {@link #windowStep} after the last position.
   */
  static Sums windowSums(Ops tf, Operand<TFloat32> k, Operand<TFloat32> v, int s,
      Operand<TFloat32> near, Operand<TFloat32> far, int context, boolean withState) {
    Chunked ch = chunked(tf, k, v, context);
    Operand<TFloat32> m = ch.flat(tf, ch.m());
    Operand<TFloat32> prefix = ch.flat(tf, ch.sums());
    // every position up to t - s, in the scale exp(-m_t)
    Operand<TFloat32> before = tf.math.mul(
        tf.stopGradient(tf.math.exp(tf.math.sub(delay(tf, m, s, NEG), m))), delay(tf, prefix, s, 0f));
    int r = (s - 1 + CHUNK - 1) / CHUNK;
    int cols = (r + 1) * CHUNK;
    List<Operand<TFloat32>> keyCols = new ArrayList<>();
    List<Operand<TFloat32>> valueCols = new ArrayList<>();
    for (int p = r; p >= 0; p--) {
      keyCols.add(p == 0 ? ch.k() : delay(tf, ch.k(), p, NEG));
      valueCols.add(p == 0 ? ch.v() : delay(tf, ch.v(), p, 0f));
    }
    Operand<TInt32> rowAxis = tf.constant(3);
    Operand<TFloat32> kw = asRow(tf, r == 0 ? ch.k() : tf.concat(keyCols, rowAxis)); // [B, n, K, 1, cols]
    Operand<TFloat32> vw = r == 0 ? ch.v() : tf.concat(valueCols, rowAxis); // [B, n, K, cols, D + 1]
    // near[t, d] at (row i, column j) of chunk q, d = r c + i - j, gathered: [n or 1, Kn, c, cols]
    int nearKeys = (int) near.shape().size(2);
    boolean everyRow = near.shape().size(0) == 1;
    int chunks = everyRow ? 1 : (int) near.shape().size(0) / CHUNK;
    int[][][] index = new int[chunks][CHUNK][cols];
    float[][] inBand = new float[CHUNK][cols];
    for (int q = 0; q < chunks; q++) {
      for (int i = 0; i < CHUNK; i++) {
        for (int j = 0; j < cols; j++) {
          int d = r * CHUNK + i - j;
          if (d >= 0 && d < s) {
            index[q][i][j] = (everyRow ? 0 : (q * CHUNK + i) * s) + d;
            inBand[i][j] = 1f;
          }
        }
      }
    }
    Operand<TFloat32> nearFlat = tf.reshape(near, tf.constant(new int[] {-1, nearKeys})); // [Tn s, Kn]
    Operand<TInt32> indices = tf.constant(index);
    if (!everyRow) {
      indices = tf.slice(indices, tf.constant(new int[] {0, 0, 0}),
          tf.stack(List.of(Layers.dim(tf, ch.k(), 1), tf.constant(-1), tf.constant(-1))));
    }
    Operand<TFloat32> gathered = tf.gather(nearFlat, indices, tf.constant(0)); // [n or 1, c, cols, Kn]
    Operand<TFloat32> bias = tf.math.add(
        tf.math.mul(tf.linalg.transpose(gathered, tf.constant(new int[] {0, 3, 1, 2})), tf.constant(inBand)),
        bandMask(tf, CHUNK, cols, r * CHUNK, s)); // [n or 1, Kn, c, cols]
    Operand<TFloat32> logits = tf.math.sub(tf.math.add(kw, tf.expandDims(bias, tf.constant(0))), ch.m()); // [B, n, K, c, cols]
    Operand<TFloat32> window = tf.train.batchMatMul(tf.math.exp(logits), vw, TFloat32.class); // [B, n, K, c, D + 1]
    Operand<TFloat32> sums = tf.math.add(tf.math.mul(tf.math.exp(far), before), ch.flat(tf, window));
    if (!withState) {
      return new Sums(sums, List.of());
    }
    // the last s positions (padding where t < s) and everything before them
    Operand<TInt32> t = ch.t();
    Operand<TFloat32> paddedK = padFront(tf, k, s - 1, NEG);
    Operand<TFloat32> paddedV = padFront(tf, withOnes(tf, v), s - 1, 0f);
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
   * One position of the prefix sums of {@link #prefixScan}: keys {@code [B, 1, N]}, values
   * {@code [B, R, N]} and the state after the previous position ({@code [B, R + 1, N]} sums in the scale
   * of the running maximum {@code [B, 1, N]}).
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
   * {@code x} delayed by {@code d} steps along axis 1: {@code out[:, t] = x[:, t - d]}, {@code fill}
   * for {@code t < d}; a Pad and a Slice (whose gradient is a Pad).
   */
  static Operand<TFloat32> delay(Ops tf, Operand<TFloat32> x, int d, float fill) {
    int rank = x.shape().numDimensions();
    return tf.slice(padFront(tf, x, d, fill), tf.constant(new int[rank]), tf.shape(x));
  }

  /**
   * {@code x} rotated by {@code d} steps along axis 1: {@code out[:, t] = x[:, (t - d) mod T]}, one Roll
   * (whose gradient is a Roll) instead of {@link #delay}'s Pad and Slice. Equal to {@code delay(x, d, 0)}
   * wherever it is multiplied by a factor that is exactly 0 for {@code t < d} and the wrapped-around values
   * are finite: then the product is exactly 0 there too.
   */
  static Operand<TFloat32> rotate(Ops tf, Operand<TFloat32> x, int d) {
    return tf.roll(x, tf.constant(d), tf.constant(1));
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

  /**
   * Sums whose {@code numerators} numerator entries are followed by one denominator entry along {@code axis}
   * ({@code [..., D + 1]} with axis -1; {@code [..., 2, C]} with axis -2) as {@code num / den}, the
   * denominator's entry dropped from that axis.
   */
  static Operand<TFloat32> ratio(Ops tf, Operand<TFloat32> sums, int numerators, int axis) {
    var parts = tf.splitV(sums, tf.constant(new int[] {numerators, 1}), tf.constant(axis), 2L);
    return tf.math.div(parts.output().get(0), parts.output().get(1));
  }

  /** The gated read-out {@code (sigmoid(q) ⊙ ratio) W_o}. */
  static Operand<TFloat32> readout(Ops tf, Operand<TFloat32> q, Operand<TFloat32> ratio, Operand<TFloat32> wo) {
    return Layers.linear(tf, tf.math.mul(tf.math.sigmoid(q), ratio), wo, null);
  }

  /**
   * {@link #readout} with the gate as core's fused kernel ({@link NativeLayers#sigmoidGate}) where it is
   * loaded: for the mixers' fused forms, which are built only where the graph need not be portable.
   */
  static Operand<TFloat32> fusedReadout(Ops tf, Operand<TFloat32> q, Operand<TFloat32> ratio, Operand<TFloat32> wo) {
    return NativeLayers.loaded() ? Layers.linear(tf, NativeLayers.sigmoidGate(tf, q, ratio), wo, null)
        : readout(tf, q, ratio, wo);
  }

  /** {@code x W_qkv} split into {@code q, k, v} of the given widths along the last axis. */
  static List<Operand<TFloat32>> qkv(Ops tf, Operand<TFloat32> x, Operand<TFloat32> wqkv, int q, int k, int v) {
    Operand<TFloat32> all = Layers.linear(tf, x, wqkv, null);
    var parts = tf.splitV(all, tf.constant(new int[] {q, k, v}), tf.constant(-1), 3L);
    return List.of(parts.output().get(0), parts.output().get(1), parts.output().get(2));
  }

  /** {@code x} with its last axis split into {@code [K, D]}. */
  static Operand<TFloat32> splitLast(Ops tf, Operand<TFloat32> x, int keys, int d) {
    return tf.reshape(x, Layers.withLastDims(tf, x, keys, d));
  }

  /** Position {@code t - 1} of {@code x [B, T, ...]} (rank 4), without the time axis. */
  static Operand<TFloat32> last(Ops tf, Operand<TFloat32> x, Operand<TInt32> t) {
    Operand<TInt32> zero = tf.constant(0);
    Operand<TFloat32> slice = tf.slice(x, tf.stack(List.of(zero, tf.math.sub(t, tf.constant(1)), zero, zero)),
        tf.constant(new int[] {-1, 1, -1, -1}));
    return tf.squeeze(slice, Squeeze.axis(List.of(1L)));
  }
}
