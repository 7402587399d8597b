package dev.leviathan.trainer;

/** A problem with the training data (missing, empty, too short, wrong encoding). */
public final class DataException extends IllegalArgumentException {
  public DataException(String message) {
    super(message);
  }
}
