package dev.leviathan.trainer;

import dev.leviathan.trainer.cluster.ClusterSpec;
import java.util.Optional;

/**
 * Where and how wide a run executes.
 *
 * @param intraOpThreads threads inside one op; 0 = all cores
 * @param interOpThreads ops run in parallel; 0 = all cores
 * @param threadSpinning whether TensorFlow's idle threads spin for a while before they sleep (off: they sleep
 *     at once, which left more of two cores to the ops at the nanoGPT preset; docs/results.md)
 * @param device where the model runs ({@code --device}; not a config key)
 * @param cluster the workers of a data-parallel run and this process's task, or null for one process
 *     ({@code TF_CONFIG} or {@code --cluster/--task}; not a config key)
 * @param collectiveTimeoutSeconds how long a worker waits for the others at a step's all-reduce
 */
public record RuntimeSpec(int intraOpThreads, int interOpThreads, boolean threadSpinning, Devices.Choice device,
    ClusterSpec cluster, float collectiveTimeoutSeconds) {
  /** The default wait for the other workers at a step. */
  public static final float DEFAULT_COLLECTIVE_TIMEOUT_SECONDS = 60f;

  public RuntimeSpec {
    Ranges.nonNegative("intra-op-threads", intraOpThreads);
    Ranges.nonNegative("inter-op-threads", interOpThreads);
    device = device == null ? Devices.Choice.AUTO : device;
    if (!(collectiveTimeoutSeconds > 0)) {
      throw new ConfigException("the collective timeout must be > 0 seconds, got " + collectiveTimeoutSeconds);
    }
  }

  /** One process. */
  public RuntimeSpec(int intraOpThreads, int interOpThreads, boolean threadSpinning, Devices.Choice device) {
    this(intraOpThreads, interOpThreads, threadSpinning, device, null, DEFAULT_COLLECTIVE_TIMEOUT_SECONDS);
  }

  public RuntimeSpec withDevice(Devices.Choice newDevice) {
    return new RuntimeSpec(intraOpThreads, interOpThreads, threadSpinning, newDevice, cluster,
        collectiveTimeoutSeconds);
  }

  /** This runtime as task {@code spec.task()} of {@code spec} (null: one process). */
  public RuntimeSpec withCluster(ClusterSpec spec, float timeoutSeconds) {
    return new RuntimeSpec(intraOpThreads, interOpThreads, threadSpinning, device, spec, timeoutSeconds);
  }

  /** The cluster, when this is a data-parallel run. */
  public Optional<ClusterSpec> clusterSpec() {
    return Optional.ofNullable(cluster);
  }
}
