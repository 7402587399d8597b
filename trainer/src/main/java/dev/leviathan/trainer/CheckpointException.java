package dev.leviathan.trainer;

/** A checkpoint that is missing, corrupt, truncated or does not fit the requested run. */
public final class CheckpointException extends IllegalArgumentException {
  public CheckpointException(String message) {
    super(message);
  }
}
