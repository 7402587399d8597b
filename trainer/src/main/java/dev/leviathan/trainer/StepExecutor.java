package dev.leviathan.trainer;

/**
 * Runs one optimisation step on a batch. {@link #local} applies the step in this process's session; a
 * data-parallel executor would average the gradients of all tasks (all-reduce) before the update.
 */
public interface StepExecutor {
  /** One step ({@code step} is 0-based) on {@code batch} = {inputs, targets}, at learning rate {@code lr}. */
  ModelRuntime.StepResult step(int[][] batch, long step, double lr);

  /** Steps {@code runtime} alone: forward, loss, gradients, clipping and AdamW update in one session run. */
  static StepExecutor local(ModelRuntime runtime, ScheduleSpec schedule) {
    return (batch, step, lr) -> runtime.step(batch[0], batch[1], schedule.batch(), step, lr, schedule.seed());
  }
}
