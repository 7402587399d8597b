package dev.leviathan.core.registry;

/**
 * A call into a mixer provider's code that failed or broke the SPI contract. Its message is one line
 * naming the mixer, where it came from (its plugin jar, or built-in), the call and what went wrong.
 */
public final class MixerCallException extends IllegalStateException {
  private final String mixer;
  private final String source;
  private final String call;

  MixerCallException(String mixer, String source, String call, String message, Throwable cause) {
    super(message, cause);
    this.mixer = mixer;
    this.source = source;
    this.call = call;
  }

  /** The mixer's name. */
  public String mixer() {
    return mixer;
  }

  /** Where its provider came from: the plugin jar or folder, or {@code built-in}. */
  public String source() {
    return source;
  }

  /** The call that failed, e.g. {@code create() for block 0}. */
  public String call() {
    return call;
  }
}
