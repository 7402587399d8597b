package dev.leviathan.core.model;

/** An invalid model configuration value. The message names the key and the accepted values. */
public final class ModelConfigException extends IllegalArgumentException {
  public ModelConfigException(String message) {
    super(message);
  }
}
