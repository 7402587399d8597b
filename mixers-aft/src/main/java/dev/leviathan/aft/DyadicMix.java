package dev.leviathan.aft;

import dev.leviathan.core.ops.Layers;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Max;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The AFT sums with a lower-triangular position weight {@code E [Tmax, Tmax]} shared by all channels,
 * in the causal scale of each row:
 *
 * <pre>
 *   S_t = sum_{t' <= t} E[t, t'] exp(k_t' - m_t) [v_t'; 1],    m_t = max_{t' <= t} k_t'  (detached)
 * </pre>
 *
 * A per-row shift of the keys does not fit one {@code E @ (exp(k) ⊙ v)} product, so the lower triangle
 * is cut into dyadic rectangles: at level l ({@code h = 2^l}), every block of {@code 2h} positions
 * contributes its left half (columns) to its right half (rows),
 *
 * <pre>
 *   rows t in [2hn + h, 2hn + 2h), columns t' in [2hn, 2hn + h):
 *   exp(M - m_t) * sum_t' E[t, t'] exp(k_t' - M) [v_t'; 1],   M = max of k over the columns  (<= m_t)
 * </pre>
 *
 * one batched product per level ({@code ceil(log2 Tmax)} levels, each {@code [h, h]} block of E
 * broadcast over the batch); with the diagonal {@code E[t, t] exp(k_t - m_t)} the rectangles cover
 * {@code t' <= t} exactly once. Every factor is {@code <= 1} when {@code E <= 1}, M only depends on
 * positions before the rows it scales, so any finite keys give finite sums that depend on positions
 * {@code <= t} only. The same multiply-adds as one lower-triangular {@code T x T} product: O(T^2 C)
 * time, O(T^2 + T C log T) memory.
 *
 * <p>Layout, channels last: keys and the running maximum {@code [B, T, 1, C]}, values
 * {@code [B, T, R, C]} (numerator rows and the denominator row of ones), sums {@code [B, T, R, C]}.
 */
final class DyadicMix {
  private final Ops tf;
  private final Operand<TFloat32> diagonal;
  /** Per level l: the blocks {@code E[2^(l+1) n + 2^l + i, 2^(l+1) n + j]}, {@code [Tpow / 2^(l+1), 2^l, 2^l]}. */
  private final List<Operand<TFloat32>> blocks = new ArrayList<>();

  /** {@code e}: the weights {@code [Tmax, Tmax]}, lower-triangular, every entry in {@code [0, 1]}. */
  DyadicMix(Ops tf, Operand<TFloat32> e, int tmax) {
    this.tf = tf;
    float[][] eye = new float[tmax][tmax];
    for (int i = 0; i < tmax; i++) {
      eye[i][i] = 1f;
    }
    this.diagonal = tf.sum(tf.math.mul(e, tf.constant(eye)), tf.constant(1)); // [Tmax]
    int levels = AftOps.levels(tmax);
    int tpow = 1 << levels;
    Operand<TFloat32> padded = tf.pad(e, tf.constant(new int[][] {{0, tpow - tmax}, {0, tpow - tmax}}), tf.constant(0f));
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

  /**
   * The AFT ratio {@code S_t[num] / S_t[den]} of keys and values {@code [B, T, C]} (T up to
   * {@code context}), {@code [B, T, C]}.
   */
  Operand<TFloat32> ratio(Operand<TFloat32> keys, Operand<TFloat32> values, int context) {
    int c = (int) keys.shape().size(-1);
    Operand<TFloat32> v = AftOps.splitLast(tf, values, 1, c);
    Operand<TFloat32> sums = sums(AftOps.splitLast(tf, keys, 1, c),
        tf.concat(List.of(v, tf.fill(tf.shape(v), tf.constant(1f))), tf.constant(2)), context); // [B, T, 2, C]
    return tf.reshape(AftOps.ratio(tf, sums, 1, -2), Layers.withLastDim(tf, keys, c));
  }

  /** The sums {@code [B, T, R, C]} of keys {@code [B, T, 1, C]} and values {@code [B, T, R, C]}. */
  private Operand<TFloat32> sums(Operand<TFloat32> k, Operand<TFloat32> values, int context) {
    Operand<TInt32> t = Layers.dim(tf, k, 1);
    Operand<TFloat32> m = AftOps.runningMax(tf, k, context);
    Operand<TFloat32> own = tf.reshape(tf.slice(diagonal, tf.constant(new int[] {0}), tf.reshape(t, tf.constant(new int[] {1}))),
        tf.constant(new int[] {1, -1, 1, 1}));
    Operand<TFloat32> sums = tf.math.mul(tf.math.mul(own, tf.math.exp(tf.math.sub(k, m))), values);
    if (blocks.isEmpty()) {
      return sums;
    }
    // every level works on time padded once to Tpow (static): keys -max (no weight), values 0, row
    // maxima +max (rows discarded, scale 0); the rectangles are summed padded and cut back once
    int tpow = 2 * (int) blocks.get(blocks.size() - 1).shape().size(1);
    Operand<TInt32> zero = tf.constant(0);
    Operand<TInt32> paddings = tf.reshape(
        tf.stack(List.of(zero, zero, zero, tf.math.sub(tf.constant(tpow), t), zero, zero, zero, zero)), tf.constant(new int[] {4, 2}));
    Operand<TFloat32> keys = tf.pad(k, paddings, tf.constant(AftOps.NEG));
    Operand<TFloat32> vals = tf.pad(values, paddings, tf.constant(0f));
    Operand<TFloat32> rowMax = tf.pad(m, paddings, tf.constant(Float.MAX_VALUE));
    Operand<TFloat32> rectangles = null;
    for (int l = 0; l < blocks.size(); l++) {
      Operand<TFloat32> level = level(l, tpow, keys, rowMax, vals);
      rectangles = rectangles == null ? level : tf.math.add(rectangles, level);
    }
    return tf.math.add(sums, AftOps.window(tf, rectangles, 0, t));
  }

  /**
   * The rectangles of level l over time padded to {@code tpow}: rows in the right half of each block of
   * 2^(l+1) positions, columns in its left half, in the scale {@code exp(-m_t)} of each row; zero on
   * the other rows. {@code [B, tpow, R, C]}.
   */
  private Operand<TFloat32> level(int l, int tpow, Operand<TFloat32> k, Operand<TFloat32> m, Operand<TFloat32> values) {
    int h = 1 << l;
    int n = tpow / (2 * h);
    Operand<TInt32> minusOne = tf.constant(-1);
    Operand<TInt32> rows = Layers.dim(tf, values, 2);
    Operand<TInt32> channels = Layers.dim(tf, values, 3);
    Operand<TInt32> grid1 = tf.stack(List.of(minusOne, tf.constant(n), tf.constant(2 * h), tf.constant(1), channels));
    Operand<TInt32> gridR = tf.stack(List.of(minusOne, tf.constant(n), tf.constant(2 * h), rows, channels));
    Operand<TInt32> leftHalf = tf.constant(new int[] {-1, -1, h, -1, -1});
    Operand<TInt32> origin = tf.constant(new int[] {0, 0, 0, 0, 0});
    Operand<TFloat32> keys = tf.slice(tf.reshape(k, grid1), origin, leftHalf); // [B, n, h, 1, C]
    Operand<TFloat32> vals = tf.slice(tf.reshape(values, gridR), origin, leftHalf); // [B, n, h, R, C]
    Operand<TFloat32> rowMax = tf.slice(tf.reshape(m, grid1), tf.constant(new int[] {0, 0, h, 0, 0}), leftHalf);
    Operand<TFloat32> blockMax = tf.stopGradient(tf.max(keys, tf.constant(2), Max.keepDims(true))); // [B, n, 1, 1, C]
    Operand<TFloat32> g = tf.math.mul(tf.math.exp(tf.math.sub(keys, blockMax)), vals); // [B, n, h, R, C]
    // one [h, h] block per n, broadcast over the batch: [1, n, h, h] x [B, n, h, R C]
    Operand<TFloat32> e = tf.expandDims(blocks.get(l), tf.constant(0));
    Operand<TFloat32> columns = tf.reshape(g, tf.stack(List.of(minusOne, tf.constant(n), tf.constant(h), tf.math.mul(rows, channels))));
    Operand<TFloat32> mixed = tf.reshape(tf.train.batchMatMul(e, columns, TFloat32.class),
        tf.stack(List.of(minusOne, tf.constant(n), tf.constant(h), rows, channels))); // [B, n, h, R, C]
    Operand<TFloat32> right = tf.math.mul(mixed, tf.math.exp(tf.math.sub(blockMax, rowMax)));
    return tf.reshape(tf.concat(List.of(tf.zerosLike(right), right), tf.constant(2)),
        tf.stack(List.of(minusOne, tf.constant(tpow), rows, channels)));
  }
}
