package dev.leviathan.trainer;

/** Linear warm-up from 0 to {@code lr} over {@code warmup} steps, then cosine decay to {@code minLr} at {@code steps}. */
public record LearningRate(double lr, double minLr, int warmup, int steps) {
  /** Learning rate for 0-based step {@code step}. */
  public double at(long step) {
    if (step < warmup) {
      return lr * (step + 1) / warmup;
    }
    if (step >= steps) {
      return minLr;
    }
    double progress = (double) (step - warmup) / Math.max(1, steps - warmup);
    return minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (lr - minLr);
  }
}
