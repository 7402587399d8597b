package dev.leviathan.trainer;

import dev.leviathan.core.registry.MixerRegistry;

/**
 * Everything a training run is configured with, as one immutable value: the model, the data, the
 * optimiser, the schedule (steps, evaluation, checkpoints, sampling) and the runtime (threads, device).
 * Built by {@link ConfigLoader} from defaults, a YAML file, typed command-line values and {@code --set}
 * overrides; every part validates its own ranges when constructed, so a {@code RunSpec} is always valid.
 */
public record RunSpec(ModelSpec model, DataSpec data, OptimizerSpec optimizer, ScheduleSpec schedule,
    RuntimeSpec runtime) {

  /** The same run on another device (the device is a command-line choice, not a config key). */
  public RunSpec withDevice(Devices.Choice device) {
    return new RunSpec(model, data, optimizer, schedule, runtime.withDevice(device));
  }

  /** The same run as one task of a data-parallel cluster (null: one process). */
  public RunSpec withCluster(dev.leviathan.trainer.cluster.ClusterSpec cluster, float collectiveTimeoutSeconds) {
    return new RunSpec(model, data, optimizer, schedule, runtime.withCluster(cluster, collectiveTimeoutSeconds));
  }

  /** The same run evaluated on another data file. */
  public RunSpec withDataFile(String file) {
    return new RunSpec(model, data.withFile(file), optimizer, schedule, runtime);
  }

  /** The learning-rate schedule over {@code steps}. */
  public LearningRate learningRate() {
    return optimizer.learningRate(schedule.steps());
  }

  /** Looks up every layer's mixers in {@code registry} and resolves their options (once per run). */
  public ResolvedRun resolve(MixerRegistry registry) {
    return new ResolvedRun(this, model.resolve(registry));
  }
}
