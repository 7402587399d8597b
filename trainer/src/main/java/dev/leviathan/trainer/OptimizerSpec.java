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
    if (!(lr > 0)) {
      throw new ConfigException("lr must be > 0, got " + lr);
    }
    if (!(minLr >= 0 && minLr <= lr)) {
      throw new ConfigException("min-lr must be between 0 and lr (" + lr + "), got " + minLr);
    }
    if (!(weightDecay >= 0)) {
      throw new ConfigException("weight-decay must be >= 0, got " + weightDecay);
    }
    Ranges.unitInterval("beta1", beta1);
    Ranges.unitInterval("beta2", beta2);
    if (!(eps > 0)) {
      throw new ConfigException("eps must be > 0, got " + eps);
    }
    if (!(gradClip >= 0)) {
      throw new ConfigException("grad-clip must be >= 0 (0 = off), got " + gradClip);
    }
  }

  /** The schedule of a run of {@code steps} steps. */
  public LearningRate learningRate(int steps) {
    return new LearningRate(lr, minLr, warmup, decaySteps > 0 ? decaySteps : steps);
  }
}
