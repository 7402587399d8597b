package dev.leviathan.trainer;

/**
 * How long a run trains and what it does along the way.
 *
 * @param batch windows per step
 * @param steps steps of the whole run
 * @param evalInterval steps between evaluations
 * @param evalIters fixed batches per evaluation
 * @param checkpointInterval steps between {@code last} checkpoints
 * @param sampleTokens tokens sampled at the end (0 = none)
 * @param seed initialisation, data order and dropout
 * @param allowNoncausal train a non-causal mixer anyway (its loss is not a valid language-modelling loss)
 */
public record ScheduleSpec(int batch, int steps, int evalInterval, int evalIters, int checkpointInterval,
    int sampleTokens, long seed, boolean allowNoncausal) {
  public ScheduleSpec {
    Ranges.positive("batch", batch);
    Ranges.positive("steps", steps);
    Ranges.positive("eval-interval", evalInterval);
    Ranges.positive("eval-iters", evalIters);
    Ranges.positive("checkpoint-interval", checkpointInterval);
    Ranges.nonNegative("sample-tokens", sampleTokens);
    if (sampleTokens > Sampler.MAX_TOKENS) {
      throw new ConfigException("sample-tokens must be at most " + Sampler.MAX_TOKENS + ", got " + sampleTokens);
    }
  }
}
