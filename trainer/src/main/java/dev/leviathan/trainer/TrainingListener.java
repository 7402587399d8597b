package dev.leviathan.trainer;

/** What a training run reports while it works; the app renders it as a progress bar or log lines. */
public interface TrainingListener {
  /** Facts about the run before the first step. */
  record Start(long parameters, long tokensPerStep, String device, String mixers, long firstStep, int steps,
      java.nio.file.Path runDir, boolean resumed) {}

  /** One row of metrics.csv. */
  record Evaluation(long step, double trainLoss, double valLoss, double valBpc, double lr, double tokensPerSec,
      double elapsedSec) {}

  default void started(Start start) {}

  default void stepped(long step, double loss, double lr, double tokensPerSec) {}

  /** The gradient norm (before clipping) of the step just taken; called right after {@link #stepped}. */
  default void gradientNorm(long step, double norm) {}

  default void evaluated(Evaluation e, boolean best) {}

  /** The text sampled at the end of the run. */
  default void sampled(long step, String sample) {}

  default void checkpointed(String name, java.nio.file.Path path, long step) {}

  /** A one-time message for the user (a lock taken over, a checkpoint recovered or resumed from). */
  default void note(String message) {}

  /** A warning that should be shown with every evaluation (e.g. a non-causal mixer). */
  default void warn(String message) {}

  default void finished() {}

  TrainingListener NONE = new TrainingListener() {};
}
