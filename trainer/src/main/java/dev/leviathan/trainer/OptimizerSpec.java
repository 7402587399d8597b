package dev.leviathan.trainer;

/**
 * AdamW and its learning-rate schedule: linear warm-up to {@code lr} over {@code warmup} steps, then
 * cosine decay to {@code minLr} at {@code decaySteps} (0 = the run's number of steps).
 */
public record OptimizerSpec(double lr, double minLr, int warmup, int decaySteps, double weightDecay, double beta1,
    double beta2, double eps, double gradClip) {
  public OptimizerSpec {
    Ranges.nonNegative("warmup", warmup);
    Ranges.nonNegative("decay-steps", decaySteps);
    TrainableValues.check(lr, minLr, weightDecay, beta1, beta2, eps, gradClip);
  }

  /** The schedule of a run of {@code steps} steps. */
  public LearningRate learningRate(int steps) {
    return new LearningRate(lr, minLr, warmup, decaySteps > 0 ? decaySteps : steps);
  }
}
