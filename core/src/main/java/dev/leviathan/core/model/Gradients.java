package dev.leviathan.core.model;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * Gradients of a scalar with respect to parameters, checked at build time. TensorFlow returns a
 * silent null gradient for a parameter that reaches the loss only through StopGradient or OneHot (or
 * not at all); this fails at once with the parameter's name instead of later with a native error.
 */
public final class Gradients {
  private Gradients() {}

  /** Thrown when a parameter receives no gradient. */
  public static final class MissingGradientException extends IllegalStateException {
    public MissingGradientException(String message) {
      super(message);
    }
  }

  public static List<Operand<TFloat32>> of(Ops tf, Operand<TFloat32> loss, List<Parameter> params) {
    List<Operand<TFloat32>> vars = new ArrayList<>();
    params.forEach(p -> vars.add(p.variable()));
    org.tensorflow.op.core.Gradients g = tf.gradients(loss, vars);
    List<Operand<TFloat32>> out = new ArrayList<>();
    List<String> missing = new ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      Output<TFloat32> dy = g.dy(i);
      if (!hasOp(dy)) {
        missing.add(params.get(i).name());
      }
      out.add(dy);
    }
    if (!missing.isEmpty()) {
      throw new MissingGradientException(
          "no gradient reaches parameter" + (missing.size() > 1 ? "s " : " ") + String.join(", ", missing)
              + ": it is unused or reached only through StopGradient/OneHot; use it in the forward pass"
              + " or create it without the parameter API");
    }
    return out;
  }

  private static boolean hasOp(Output<?> dy) {
    try {
      return dy.op().name() != null;
    } catch (RuntimeException e) {
      return false;
    }
  }
}
