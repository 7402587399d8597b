package dev.leviathan.trainer;

/** Range checks of config values; each failure names the config key. */
final class Ranges {
  private Ranges() {}

  static void positive(String key, long v) {
    if (v < 1) {
      throw new ConfigException(key + " must be >= 1, got " + v);
    }
  }

  static void nonNegative(String key, long v) {
    if (v < 0) {
      throw new ConfigException(key + " must be >= 0, got " + v);
    }
  }

  static void unitInterval(String key, double v) {
    if (!(v >= 0 && v < 1)) {
      throw new ConfigException(key + " must be in [0, 1), got " + v);
    }
  }
}
