package dev.leviathan.trainer.cluster;

import org.tensorflow.Operand;
import org.tensorflow.Operation;
import org.tensorflow.OperationBuilder;
import org.tensorflow.Output;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The mean of one float tensor over every worker, {@code out = (1/N) Σ_k x_k}, with the same value
 * on every worker: TensorFlow's {@code CollectiveReduceV2} (merge {@code Add}, final {@code Div}).
 *
 * <p>Every worker builds the same op with the same group and instance key; one {@code Session.run}
 * on each worker makes one all-reduce, and the same op (same instance key) can run again in the
 * next step. The op is built with {@code opBuilder} on purpose: the typed
 * {@code tf.collective.collectiveReduce} wrapper is the V3 op, which crashed the JVM. A worker that
 * does not join within {@code timeoutSeconds} makes the run fail with a {@code TensorFlowException};
 * a timeout of 0 would wait forever, so it is refused.
 */
public final class CollectiveMean {
  /** Every collective of a run uses this group: all workers. */
  public static final int GROUP_KEY = 1;

  private CollectiveMean() {}

  /**
   * Adds the all-reduce of {@code x} to the graph.
   *
   * @param tf the graph's ops
   * @param x the tensor to average (the same shape on every worker)
   * @param spec the cluster; the op runs on this worker's CPU
   * @param instanceKey one key per collective op in the graph (the same on every worker)
   * @param timeoutSeconds how long to wait for the other workers, > 0
   */
  public static Operand<TFloat32> of(Ops tf, Operand<TFloat32> x, ClusterSpec spec, int instanceKey,
      float timeoutSeconds) {
    if (!(timeoutSeconds > 0)) {
      throw new IllegalArgumentException("collective timeout must be > 0 seconds (0 waits forever), got "
          + timeoutSeconds);
    }
    OperationBuilder b = tf.scope().opBuilder("CollectiveReduceV2", "CollectiveMean");
    b.addInput(x.asOutput());
    b.addInput(tf.constant(spec.size()).asOutput());
    b.addInput(tf.constant(GROUP_KEY).asOutput());
    b.addInput(tf.constant(instanceKey).asOutput());
    b.addInputList(new Output<?>[0]);
    b.setAttr("merge_op", "Add");
    b.setAttr("final_op", "Div");
    b.setAttr("timeout_seconds", timeoutSeconds);
    b.setDevice(spec.cpuDevice());
    Operation op = b.build();
    return op.output(0);
  }
}
