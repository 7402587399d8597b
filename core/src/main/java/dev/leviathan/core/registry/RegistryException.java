package dev.leviathan.core.registry;

/** A problem with the set of mixer providers: unknown name, duplicate, wrong SPI version, bad name. */
public final class RegistryException extends IllegalArgumentException {
  public RegistryException(String message) {
    super(message);
  }

  public RegistryException(String message, Throwable cause) {
    super(message, cause);
  }
}
