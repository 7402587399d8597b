package dev.leviathan.trainer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * One graph op that tells whether every element of a set of variables (parameters and optimiser
 * moments) is finite, evaluated in one {@code Session.run}: {@code isFinite(sum_v sum_i v[i] * 0)}. A
 * finite element times 0 is 0 and an infinite or NaN one is NaN, which every sum passes on, so the total
 * is 0 exactly when every element is finite (however large: nothing is added but zeros). Two nodes per
 * variable (a product and a sum), where an element-wise {@code isFinite} and a reduce-all per flattened
 * variable took five: this check is its own executor, built when the first checkpoint is written.
 */
final class FiniteCheck {
  private final Operand<TBool> allFinite;

  FiniteCheck(Ops root, List<? extends Operand<TFloat32>> variables) {
    Ops tf = root.withSubScope("finite_check");
    Operand<TFloat32> zero = tf.constant(0f);
    Map<Integer, Operand<TInt32>> allAxes = new HashMap<>();
    List<Operand<TFloat32>> each = new ArrayList<>();
    for (Operand<TFloat32> v : variables) {
      int rank = v.shape().numDimensions();
      Operand<TInt32> axes = allAxes.computeIfAbsent(rank, r -> tf.constant(IntStream.range(0, r).toArray()));
      each.add(tf.sum(tf.math.mul(v, zero), axes));
    }
    allFinite = each.isEmpty() ? tf.constant(true) : tf.math.isFinite(tf.math.addN(each));
  }

  /** Whether every element of every variable is finite now. */
  boolean run(Session session) {
    try (Result r = session.runner().fetch(allFinite).run()) {
      return ((TBool) r.get(0)).getBoolean();
    }
  }
}
