package dev.leviathan.trainer;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;

/**
 * One graph op that tells whether every element of a set of variables (parameters and optimiser
 * moments) is finite: {@code all_v all_i isFinite(v[i])}, a reduce-all over each flattened variable
 * and then over the per-variable results, evaluated in one {@code Session.run}.
 */
final class FiniteCheck {
  private final Operand<TBool> allFinite;

  FiniteCheck(Ops root, List<? extends Operand<TFloat32>> variables) {
    Ops tf = root.withSubScope("finite_check");
    List<Operand<TBool>> each = new ArrayList<>();
    for (Operand<TFloat32> v : variables) {
      each.add(tf.reduceAll(tf.math.isFinite(tf.reshape(v, tf.constant(new int[] {-1}))), tf.constant(0)));
    }
    allFinite = each.isEmpty() ? tf.constant(true) : tf.reduceAll(tf.stack(each), tf.constant(0));
  }

  /** Whether every element of every variable is finite now. */
  boolean run(Session session) {
    try (Result r = session.runner().fetch(allFinite).run()) {
      return ((TBool) r.get(0)).getBoolean();
    }
  }
}
