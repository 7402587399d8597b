package dev.leviathan.trainer;

import dev.leviathan.trainer.cluster.ClusterTraining;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs one optimisation step on a batch. {@link #local} applies the step in this process's session;
 * {@link #dataParallel} averages the gradients of all workers (all-reduce) before the update.
 */
public interface StepExecutor {
  /** One step ({@code step} is 0-based) on {@code batch} = {inputs, targets}, at learning rate {@code lr}. */
  ModelRuntime.StepResult step(int[][] batch, long step, double lr);

  /** Waits for the other workers after work only the chief does (checkpoints); nothing in one process. */
  default void barrier(long step) {}

  /** Steps {@code runtime} alone: forward, loss, gradients, clipping and AdamW update in one session run. */
  static StepExecutor local(ModelRuntime runtime, ScheduleSpec schedule) {
    return (batch, step, lr) -> runtime.step(batch[0], batch[1], schedule.batch(), step, lr, schedule.seed());
  }

  /**
   * Steps {@code runtime} as task {@code role.task()} of a data-parallel run (its graph averages the
   * gradients over the workers), under the cluster's watchdog. {@code requested} is this worker's stop
   * request (Ctrl-C); {@code agreed} becomes true on every worker after the same step once any worker
   * requested a stop. Dropout masks differ per worker (seed + task), as the windows do.
   */
  static StepExecutor dataParallel(ModelRuntime runtime, ScheduleSpec schedule, ClusterTraining cluster,
      TaskRole role, AtomicBoolean requested, AtomicBoolean agreed) {
    return new StepExecutor() {
      @Override
      public ModelRuntime.StepResult step(int[][] batch, long step, double lr) {
        boolean wish = requested.get();
        ModelRuntime.StepResult r = cluster.step(step, () -> runtime.step(batch[0], batch[1], schedule.batch(), step,
            lr, schedule.seed() + role.task(), wish));
        if (r.stop()) {
          agreed.set(true);
        }
        return r;
      }

      @Override
      public void barrier(long step) {
        cluster.barrier(step);
      }
    };
  }
}
