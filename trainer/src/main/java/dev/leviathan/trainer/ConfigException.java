package dev.leviathan.trainer;

/** A configuration problem, with a message that names the key and says what is accepted. */
public final class ConfigException extends IllegalArgumentException {
  public ConfigException(String message) {
    super(message);
  }
}
