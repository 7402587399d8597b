package dev.leviathan.core.ops;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.op.nn.FusedBatchNorm;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Small graph-op building blocks shared by the model and the mixers. Inputs are {@code [..., C]}
 * tensors whose leading dimensions may be unknown until run time; the rank is known statically.
 *
 * <p>This package is part of the versioned mixer SPI: mixers may import it, and a change that breaks
 * a mixer compiled against it bumps {@link dev.leviathan.core.spi.LeviathanSpi#VERSION}.
 */
public final class Layers {
  private Layers() {}

  /** {@code x W (+ b)} over the last axis: {@code [..., in] -> [..., out]}. {@code b} may be null. */
  public static Operand<TFloat32> linear(
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> w, Operand<TFloat32> b) {
    long in = w.shape().size(0);
    long out = w.shape().size(1);
    int rank = x.shape().numDimensions();
    Operand<TFloat32> flat = rank == 2 ? x : tf.reshape(x, tf.constant(new int[] {-1, (int) in}));
    Operand<TFloat32> y = tf.linalg.matMul(flat, w);
    if (b != null) {
      y = tf.nn.biasAdd(y, b);
    }
    if (rank == 2) {
      return y;
    }
    return tf.reshape(y, withLastDim(tf, x, (int) out));
  }

  /** {@code x W^T}: {@code [..., C] -> [..., rows(W)]}, used by the tied LM head. */
  public static Operand<TFloat32> linearTransposed(Ops tf, Operand<TFloat32> x, Operand<TFloat32> w) {
    long in = w.shape().size(1);
    long out = w.shape().size(0);
    Operand<TFloat32> flat = tf.reshape(x, tf.constant(new int[] {-1, (int) in}));
    Operand<TFloat32> y = tf.linalg.matMul(flat, w, MatMul.transposeB(true));
    return tf.reshape(y, withLastDim(tf, x, (int) out));
  }

  /** The run-time shape of {@code x} with its last dimension replaced by {@code last}. */
  public static Operand<TInt32> withLastDim(Ops tf, Operand<?> x, int last) {
    return withLastDims(tf, x, last);
  }

  /**
   * The run-time shape of {@code x} with its last dimension replaced by the dimensions {@code last}: the shape
   * that splits the last axis, e.g. {@code [B, T, 3C] -> [B, T, 3, H, D]}.
   */
  public static Operand<TInt32> withLastDims(Ops tf, Operand<?> x, int... last) {
    int rank = x.shape().numDimensions();
    Operand<TInt32> lead = tf.slice(tf.shape(x), tf.constant(new int[] {0}), tf.constant(new int[] {rank - 1}));
    return tf.concat(List.of(lead, tf.constant(last)), tf.constant(0));
  }

  /** Dimension {@code axis} of {@code x} at run time, as a scalar. */
  public static Operand<TInt32> dim(Ops tf, Operand<?> x, int axis) {
    return tf.gather(tf.shape(x), tf.constant(axis), tf.constant(0));
  }

  /** GELU, exact form {@code 0.5 x (1 + erf(x / sqrt 2))}. */
  public static Operand<TFloat32> gelu(Ops tf, Operand<TFloat32> x) {
    Operand<TFloat32> cdf = tf.math.mul(
        tf.constant(0.5f),
        tf.math.add(tf.constant(1f), tf.math.erf(tf.math.mul(x, tf.constant((float) (1 / Math.sqrt(2)))))));
    return tf.math.mul(x, cdf);
  }

  /** SiLU / swish: {@code x sigmoid(x)}. */
  public static Operand<TFloat32> silu(Ops tf, Operand<TFloat32> x) {
    return tf.math.mul(x, tf.math.sigmoid(x));
  }

  /**
   * LayerNorm over the last axis with gain and (optional) bias:
   * {@code (x - mean(x)) / sqrt(var(x) + eps) * gain + bias}, variance without Bessel's correction.
   *
   * <p>Computed by TensorFlow's fused batch-norm kernel: the rows {@code [N, C]} viewed as an NCHW image
   * {@code [1, N, C, 1]} have one "channel" per row, and batch norm in training mode normalises each
   * channel over its {@code C} values. Forward and gradient are one kernel each instead of about 80 small
   * ops per norm.
   */
  public static Operand<TFloat32> layerNorm(
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> gain, Operand<TFloat32> bias, float eps) {
    int c = (int) x.shape().size(x.shape().numDimensions() - 1);
    Operand<TFloat32> image = tf.reshape(x, tf.constant(new int[] {1, -1, c, 1}));
    Operand<TInt32> rows = tf.slice(tf.shape(image), tf.constant(new int[] {1}), tf.constant(new int[] {1}));
    Operand<TFloat32> empty = tf.constant(new float[0]);
    FusedBatchNorm<TFloat32, TFloat32> bn = tf.nn.fusedBatchNorm(image, tf.fill(rows, tf.constant(1f)),
        tf.fill(rows, tf.constant(0f)), empty, empty, FusedBatchNorm.epsilon(eps), FusedBatchNorm.dataFormat("NCHW"),
        FusedBatchNorm.isTraining(true));
    Operand<TFloat32> y = tf.math.mul(tf.reshape(bn.y(), tf.shape(x)), gain);
    return bias == null ? y : tf.math.add(y, bias);
  }

  /** RMSNorm over the last axis: {@code x / sqrt(mean(x^2) + eps) * gain}. */
  public static Operand<TFloat32> rmsNorm(Ops tf, Operand<TFloat32> x, Operand<TFloat32> gain, float eps) {
    Operand<TFloat32> ms = tf.math.mean(tf.math.square(x), tf.constant(-1), org.tensorflow.op.math.Mean.keepDims(true));
    Operand<TFloat32> y = tf.math.mul(x, tf.math.rsqrt(tf.math.add(ms, tf.constant(eps))));
    return gain == null ? y : tf.math.mul(y, gain);
  }

  /** {@code [B, T, H*D] -> [B, H, T, D]}. */
  public static Operand<TFloat32> splitHeads(Ops tf, Operand<TFloat32> x, int heads) {
    int width = (int) x.shape().size(2);
    Operand<TInt32> bt = tf.slice(tf.shape(x), tf.constant(new int[] {0}), tf.constant(new int[] {2}));
    Operand<TInt32> shape = tf.concat(List.of(bt, tf.constant(new int[] {heads, width / heads})), tf.constant(0));
    return tf.linalg.transpose(tf.reshape(x, shape), tf.constant(new int[] {0, 2, 1, 3}));
  }

  /** {@code [B, H, T, D] -> [B, T, H*D]}. */
  public static Operand<TFloat32> mergeHeads(Ops tf, Operand<TFloat32> x) {
    long heads = x.shape().size(1);
    long d = x.shape().size(3);
    Operand<TFloat32> t = tf.linalg.transpose(x, tf.constant(new int[] {0, 2, 1, 3}));
    Operand<TInt32> bt = tf.slice(tf.shape(t), tf.constant(new int[] {0}), tf.constant(new int[] {2}));
    return tf.reshape(t, tf.concat(List.of(bt, tf.constant(new int[] {(int) (heads * d)})), tf.constant(0)));
  }

  /**
   * Additive causal mask {@code [T, T]} for run-time {@code T}: 0 where {@code s <= t}, {@code -1e9}
   * where {@code s > t}. Added to scores before a softmax, masked entries become exactly 0.
   */
  public static Operand<TFloat32> causalMask(Ops tf, Operand<TInt32> t) {
    Operand<TFloat32> ones = tf.fill(tf.stack(List.of(t, t)), tf.constant(1f));
    Operand<TFloat32> lower = tf.linalg.bandPart(ones, tf.constant(-1), tf.constant(0));
    return tf.math.mul(tf.math.sub(lower, tf.constant(1f)), tf.constant(1e9f));
  }
}
