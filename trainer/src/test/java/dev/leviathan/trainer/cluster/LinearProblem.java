package dev.leviathan.trainer.cluster;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.StdArrays;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/**
 * A tiny linear regression trained with plain SGD, for data-parallel tests:
 * {@code pred = x W + b}, {@code loss = mean((pred - y)^2)} over this process's rows,
 * {@code (W, b) -= lr * g} where {@code g} is the local gradient, or its mean over workers when a
 * cluster is given. Worker k of N takes rows {@code [k*rows, (k+1)*rows)} of a global batch of
 * {@code N*rows} rows; since every local loss is a mean over equally many rows, the mean of the
 * workers' gradients is the gradient of the loss over the whole global batch.
 */
final class LinearProblem {
  static final int IN = 4;
  static final int OUT = 3;
  static final float LR = 0.1f;

  final Graph graph = new Graph();
  final int rows;
  private final Placeholder<TFloat32> x;
  private final Placeholder<TFloat32> y;
  private final Variable<TFloat32> w;
  private final Variable<TFloat32> b;
  private final Operand<TFloat32> loss;
  private final List<Op> updates = new ArrayList<>();

  /**
   * @param rows rows per step in this process
   * @param cluster when present, the gradient is averaged over its workers before the update
   */
  LinearProblem(int rows, Optional<ClusterSpec> cluster, float timeoutSeconds) {
    this.rows = rows;
    Ops tf = Ops.create(graph);
    x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(rows, IN)));
    y = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(rows, OUT)));
    float[][] w0 = new float[IN][OUT];
    for (int i = 0; i < IN; i++) {
      for (int j = 0; j < OUT; j++) {
        w0[i][j] = 0.1f * (i - j) + 0.05f;
      }
    }
    w = tf.withName("w").variable(tf.constant(w0));
    b = tf.withName("b").variable(tf.constant(new float[] {0.3f, -0.2f, 0.1f}));
    Operand<TFloat32> pred = tf.math.add(tf.linalg.matMul(x, w), b);
    loss = tf.math.mean(tf.math.square(tf.math.sub(pred, y)), tf.constant(new int[] {0, 1}));
    var grads = tf.gradients(loss, List.of(w, b));
    List<Operand<TFloat32>> g = List.of(grads.<TFloat32>dy(0), grads.<TFloat32>dy(1));
    if (cluster.isPresent()) {
      FlatPack pack = new FlatPack(List.of(Shape.of(IN, OUT), Shape.of(OUT)));
      g = pack.unpack(tf, CollectiveMean.of(tf, pack.pack(tf, g), cluster.get(), 1, timeoutSeconds));
    }
    updates.add(tf.assignSub(w, tf.math.mul(tf.constant(LR), g.get(0))));
    updates.add(tf.assignSub(b, tf.math.mul(tf.constant(LR), g.get(1))));
  }

  /** The global batch of step {@code step} (N*rows rows), the same in every process. */
  static float[][][] globalBatch(int step, int totalRows) {
    Random r = new Random(1234 + step);
    float[][] xs = new float[totalRows][IN];
    float[][] ys = new float[totalRows][OUT];
    for (int n = 0; n < totalRows; n++) {
      for (int i = 0; i < IN; i++) {
        xs[n][i] = (float) r.nextGaussian();
      }
      for (int j = 0; j < OUT; j++) {
        float v = 0.5f * j - 0.3f;
        for (int i = 0; i < IN; i++) {
          v += xs[n][i] * (0.2f * i + 0.1f * j);
        }
        ys[n][j] = v + 0.01f * (float) r.nextGaussian();
      }
    }
    return new float[][][] {xs, ys};
  }

  /** One SGD step on rows {@code [first, first+rows)} of the step's global batch; returns the local loss. */
  float step(Session s, int step, int totalRows, int first) {
    float[][][] batch = globalBatch(step, totalRows);
    float[][] xs = Arrays.copyOfRange(batch[0], first, first + rows);
    float[][] ys = Arrays.copyOfRange(batch[1], first, first + rows);
    try (TFloat32 xt = TFloat32.tensorOf(StdArrays.ndCopyOf(xs));
        TFloat32 yt = TFloat32.tensorOf(StdArrays.ndCopyOf(ys))) {
      Session.Runner run = s.runner().feed(x, xt).feed(y, yt).fetch(loss);
      updates.forEach(run::addTarget);
      try (Result r = run.run()) {
        return ((TFloat32) r.get(0)).getFloat();
      }
    }
  }

  /** W (row-major) then b. */
  float[] parameters(Session s) {
    try (Result r = s.runner().fetch(w).fetch(b).run()) {
      TFloat32 wt = (TFloat32) r.get(0);
      TFloat32 bt = (TFloat32) r.get(1);
      float[] out = new float[IN * OUT + OUT];
      for (int i = 0; i < IN; i++) {
        for (int j = 0; j < OUT; j++) {
          out[i * OUT + j] = wt.getFloat(i, j);
        }
      }
      for (int j = 0; j < OUT; j++) {
        out[IN * OUT + j] = bt.getFloat(j);
      }
      return out;
    }
  }
}
