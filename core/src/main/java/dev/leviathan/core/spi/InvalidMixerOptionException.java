package dev.leviathan.core.spi;

/** A mixer option that is unknown, of the wrong type, or has a value the mixer cannot accept. */
public final class InvalidMixerOptionException extends IllegalArgumentException {
  private final String mixer;
  private final String option;

  public InvalidMixerOptionException(String mixer, String option, String message) {
    super(message);
    this.mixer = mixer;
    this.option = option;
  }

  public String mixer() {
    return mixer;
  }

  /** The offending option name, or {@code null} when the problem is not one option. */
  public String option() {
    return option;
  }
}
