package dev.leviathan.trainer;

/** Small helpers for one-line messages. */
final class Errors {
  private Errors() {}

  static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    return s.lines().findFirst().orElse("");
  }
}
