package dev.leviathan.trainer;

import dev.leviathan.core.model.Parameter;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/**
 * AdamW (Loshchilov and Hutter) on graph ops, with global-norm gradient clipping. Per step, for each
 * parameter p with gradient g (after clipping):
 *
 * <pre>
 *   m = b1 m + (1 - b1) g
 *   v = b2 v + (1 - b2) g^2
 *   p = p - lr (wd p [decayed parameters only])  - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * </pre>
 *
 * The decay uses the value of p before the step (as PyTorch's AdamW does). The learning rate and the
 * bias corrections {@code 1 - b1^t}, {@code 1 - b2^t} are fed each step, so the schedule lives in Java and
 * the moment estimates are ordinary variables saved with the checkpoint.
 */
public final class AdamW {
  private final Placeholder<TFloat32> lr;
  private final Placeholder<TFloat32> correction1;
  private final Placeholder<TFloat32> correction2;
  private final List<Op> updates = new ArrayList<>();
  private final List<Op> zeroInit = new ArrayList<>();
  private final Operand<TFloat32> gradNorm;
  private final float beta1;
  private final float beta2;

  /**
   * @param clip global-norm clip threshold; 0 disables clipping
   */
  public AdamW(Ops root, List<Parameter> params, List<Operand<TFloat32>> grads, double beta1, double beta2,
      double eps, double weightDecay, double clip) {
    this.beta1 = (float) beta1;
    this.beta2 = (float) beta2;
    Ops tf = root.withSubScope("opt");
    lr = tf.withName("lr").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
    correction1 = tf.withName("correction1").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
    correction2 = tf.withName("correction2").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
    List<Operand<TFloat32>> squares = new ArrayList<>();
    for (Operand<TFloat32> g : grads) {
      squares.add(tf.sum(tf.math.square(g), tf.range(tf.constant(0), tf.rank(g), tf.constant(1))));
    }
    // AddN needs two or more inputs
    Operand<TFloat32> total = squares.size() == 1 ? squares.get(0) : tf.math.addN(squares);
    gradNorm = tf.withName("grad_norm").math.sqrt(total);
    Operand<TFloat32> scale = clip > 0
        ? tf.math.div(tf.constant((float) clip), tf.math.maximum(gradNorm, tf.constant((float) clip)))
        : tf.constant(1f);
    for (int i = 0; i < params.size(); i++) {
      Parameter p = params.get(i);
      Ops po = tf.withSubScope(p.name().replace('/', '.'));
      Variable<TFloat32> var = p.variable();
      Variable<TFloat32> m = po.withName("m").variable(Shape.of(p.shape()), TFloat32.class);
      Variable<TFloat32> v = po.withName("v").variable(Shape.of(p.shape()), TFloat32.class);
      zeroInit.add(po.assign(m, po.zerosLike(m)));
      zeroInit.add(po.assign(v, po.zerosLike(v)));
      Operand<TFloat32> g = po.math.mul(grads.get(i), scale);
      Operand<TFloat32> newM = po.assign(m,
          po.math.add(po.math.mul(po.constant(this.beta1), m), po.math.mul(po.constant(1 - this.beta1), g)));
      Operand<TFloat32> newV = po.assign(v,
          po.math.add(po.math.mul(po.constant(this.beta2), v), po.math.mul(po.constant(1 - this.beta2), po.math.square(g))));
      Operand<TFloat32> mHat = po.math.div(newM, correction1);
      Operand<TFloat32> vHat = po.math.div(newV, correction2);
      Operand<TFloat32> step = po.math.div(mHat, po.math.add(po.math.sqrt(vHat), po.constant((float) eps)));
      if (p.decay() && weightDecay > 0) {
        step = po.math.add(step, po.math.mul(po.constant((float) weightDecay), var));
      }
      updates.add(po.assignSub(var, po.math.mul(lr, step)));
    }
  }

  /** Targets that perform one update. */
  public List<Op> updates() {
    return updates;
  }

  /** Targets that reset the moment estimates to zero (fresh start). */
  public List<Op> initializers() {
    return zeroInit;
  }

  /** The global gradient norm before clipping. */
  public Operand<TFloat32> gradNorm() {
    return gradNorm;
  }

  public Placeholder<TFloat32> lr() {
    return lr;
  }

  public Placeholder<TFloat32> correction1() {
    return correction1;
  }

  public Placeholder<TFloat32> correction2() {
    return correction2;
  }

  /** {@code 1 - beta1^t} for 1-based step t. */
  public float correction1(long t) {
    return (float) (1 - Math.pow(beta1, t));
  }

  public float correction2(long t) {
    return (float) (1 - Math.pow(beta2, t));
  }
}
