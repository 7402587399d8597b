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
 * The decay uses the value of p before the step (as PyTorch's AdamW does): {@code p = p (1 - lr wd)}, then
 * TensorFlow's fused {@code ApplyAdam} kernel performs the moment updates and the step in one op per
 * parameter. The global norm is {@code sqrt(2 sum L2Loss(g))}. The learning rate and the
 * bias corrections {@code 1 - b1^t}, {@code 1 - b2^t} are fed each step, so the schedule lives in Java and
 * the moment estimates are ordinary variables saved with the checkpoint.
 */
public final class AdamW {
  private final Placeholder<TFloat32> lr;
  private final Placeholder<TFloat32> correction1;
  private final Placeholder<TFloat32> correction2;
  private final List<Op> updates = new ArrayList<>();
  private final List<Op> zeroInit = new ArrayList<>();
  private final List<Variable<TFloat32>> moments = new ArrayList<>();
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
    // global norm: L2Loss is sum(g^2) / 2, one kernel per gradient
    List<Operand<TFloat32>> halfSquares = new ArrayList<>();
    for (Operand<TFloat32> g : grads) {
      halfSquares.add(tf.nn.l2Loss(g));
    }
    // AddN needs two or more inputs
    Operand<TFloat32> halfTotal = halfSquares.size() == 1 ? halfSquares.get(0) : tf.math.addN(halfSquares);
    org.tensorflow.op.math.Sqrt<TFloat32> norm = tf.withName("grad_norm").math.sqrt(tf.math.mul(tf.constant(2f), halfTotal));
    gradNorm = norm;
    Operand<TFloat32> scale = clip > 0
        ? tf.math.div(tf.constant((float) clip), tf.math.maximum(gradNorm, tf.constant((float) clip)))
        : null;
    // ApplyAdam computes var -= lr sqrt(1 - beta2Power) / (1 - beta1Power) m / (sqrt(v) + epsilon), which is
    // the step above with beta1Power = 1 - correction1, beta2Power = 1 - correction2 and
    // epsilon = eps sqrt(correction2)
    Operand<TFloat32> beta1Power = tf.math.sub(tf.constant(1f), correction1);
    Operand<TFloat32> beta2Power = tf.math.sub(tf.constant(1f), correction2);
    Operand<TFloat32> epsilon = tf.math.mul(tf.constant((float) eps), tf.math.sqrt(correction2));
    Operand<TFloat32> b1 = tf.constant(this.beta1);
    Operand<TFloat32> b2 = tf.constant(this.beta2);
    Operand<TFloat32> keep = tf.math.sub(tf.constant(1f), tf.math.mul(lr, tf.constant((float) weightDecay)));
    // Every update waits for the whole backward pass (the global norm reads every gradient), so no update
    // can change a parameter that a gradient still has to read.
    for (int i = 0; i < params.size(); i++) {
      Parameter p = params.get(i);
      Ops scoped = tf.withSubScope(p.name().replace('/', '.'));
      Ops po = scoped.withControlDependencies(List.of(norm));
      Variable<TFloat32> var = p.variable();
      Variable<TFloat32> m = scoped.withName("m").variable(Shape.of(p.shape()), TFloat32.class);
      Variable<TFloat32> v = scoped.withName("v").variable(Shape.of(p.shape()), TFloat32.class);
      moments.add(m);
      moments.add(v);
      // zeros of the parameter's shape, not zerosLike(m): that reads m, which has no value yet (it only ran
      // because Grappler happened to fold it into a constant)
      Operand<TFloat32> zeros = scoped.zeros(scoped.constant(p.shape()), TFloat32.class);
      zeroInit.add(scoped.assign(m, zeros));
      zeroInit.add(scoped.assign(v, zeros));
      Operand<TFloat32> g = scale == null ? grads.get(i) : po.math.mul(grads.get(i), scale);
      Ops adam = po;
      if (p.decay() && weightDecay > 0) {
        // decoupled decay from the value before the step: p (1 - lr wd), then the Adam step
        Op decayed = po.assign(var, po.math.mul(var, keep));
        adam = po.withControlDependencies(List.of(decayed));
      }
      updates.add(adam.train.applyAdam(var, m, v, beta1Power, beta2Power, lr, b1, b2, epsilon, g));
    }
  }

  /** Targets that perform one update. */
  public List<Op> updates() {
    return updates;
  }

  /** The first and second moment estimates of every parameter (saved with the checkpoint). */
  public List<Variable<TFloat32>> moments() {
    return moments;
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
