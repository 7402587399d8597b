package dev.leviathan.core.model;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * Inverted dropout driven by two graph inputs: {@code training} (default false) and a 2-element
 * {@code dropout_seed} (default [0, 0]). Each dropout site draws from a stateless generator with its
 * own seed offset, so a step's masks depend only on the fed seed and resuming reproduces them.
 */
public final class Dropout {
  private final Ops tf;
  private final Operand<TBool> training;
  private final Operand<TInt64> seed;
  private int sites;

  public Dropout(Ops tf) {
    this.tf = tf;
    this.training = tf.withName("training").placeholderWithDefault(tf.constant(false), org.tensorflow.ndarray.Shape.scalar());
    this.seed = tf.withName("dropout_seed").placeholderWithDefault(tf.constant(new long[] {0, 0}), org.tensorflow.ndarray.Shape.of(2));
  }

  /** Feed {@code true} here for training steps. */
  public Operand<TBool> training() {
    return training;
  }

  /** Feed a fresh 2-element seed here for each training step. */
  public Operand<TInt64> seed() {
    return seed;
  }

  public Operand<TFloat32> apply(Ops scoped, Operand<TFloat32> x, double rate) {
    if (rate <= 0) {
      return x;
    }
    if (rate >= 1) {
      throw new IllegalArgumentException("dropout rate must be < 1, got " + rate);
    }
    long site = ++sites;
    Operand<TInt64> siteSeed = scoped.math.add(seed, scoped.constant(new long[] {0, site * 7919L}));
    Operand<TFloat32> u = scoped.random.statelessRandomUniform(scoped.shape(x), siteSeed);
    Operand<TFloat32> keep = scoped.dtypes.cast(scoped.math.greaterEqual(u, scoped.constant((float) rate)), TFloat32.class);
    Operand<TFloat32> dropped = scoped.math.mul(x, scoped.math.mul(keep, scoped.constant((float) (1 / (1 - rate)))));
    return scoped.select(training, dropped, x);
  }
}
