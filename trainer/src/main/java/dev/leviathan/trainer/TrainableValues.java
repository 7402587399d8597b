package dev.leviathan.trainer;

/**
 * Optimiser values that cannot train are refused before a run starts: every one must be a finite number
 * that stays finite as the float32 the graph computes with (|x| <= 3.4e38), lr > 0, 0 <= min-lr <= lr,
 * eps > 0, weight-decay >= 0, grad-clip >= 0 (0 = off) and beta1, beta2 in [0, 1). Each failure names its key.
 */
public final class TrainableValues {
  private TrainableValues() {}

  public static void check(double lr, double minLr, double weightDecay, double beta1, double beta2, double eps,
      double gradClip) {
    finite("lr", lr);
    finite("min-lr", minLr);
    finite("weight-decay", weightDecay);
    finite("beta1", beta1);
    finite("beta2", beta2);
    finite("eps", eps);
    finite("grad-clip", gradClip);
    if (!(lr > 0)) {
      throw new ConfigException("lr must be > 0, got " + lr);
    }
    if (!(minLr >= 0 && minLr <= lr)) {
      throw new ConfigException("min-lr must be between 0 and lr (" + lr + "), got " + minLr);
    }
    if (!(weightDecay >= 0)) {
      throw new ConfigException("weight-decay must be >= 0, got " + weightDecay);
    }
    unitInterval("beta1", beta1);
    unitInterval("beta2", beta2);
    if (!(eps > 0) || (float) eps == 0f) {
      throw new ConfigException("eps must be > 0 (and at least 1.4e-45, the smallest float32), got " + eps);
    }
    if (!(gradClip >= 0)) {
      throw new ConfigException("grad-clip must be >= 0 (0 = off), got " + gradClip);
    }
  }

  private static void finite(String key, double v) {
    if (!Double.isFinite(v) || Float.isInfinite((float) v)) {
      throw new ConfigException(key + " must be a finite number (at most 3.4e38 in size, the float32 range), got "
          + v + "; set a number such as the default in configs/");
    }
  }

  private static void unitInterval(String key, double v) {
    if (!(v >= 0 && v < 1)) {
      throw new ConfigException(key + " must be in [0, 1), got " + v);
    }
    if ((float) v == 1f) {
      throw new ConfigException(key + " must be in [0, 1), got " + v + ", which is 1 in float32 (the graph's type)");
    }
  }
}
