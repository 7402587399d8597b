package dev.leviathan.trainer;

/**
 * Which of the run's tasks this process is. Every task steps, evaluates and samples; only the chief
 * (task 0) writes the run directory: config, run record, metrics, plot, samples and checkpoints. A
 * single-process run is the chief of one task ({@link #SINGLE}).
 */
public record TaskRole(int task, int tasks) {
  public static final TaskRole SINGLE = new TaskRole(0, 1);

  public TaskRole {
    if (tasks < 1 || task < 0 || task >= tasks) {
      throw new IllegalArgumentException("task " + task + " of " + tasks + " does not exist");
    }
  }

  /** Whether this task writes the run directory. */
  public boolean chief() {
    return task == 0;
  }
}
