package dev.leviathan.core.spi;

/**
 * Version of the mixer SPI.
 *
 * <p>{@link #VERSION} is a compile-time constant, so a provider that returns it from
 * {@link MixerProvider#spiVersion()} records the version it was <em>compiled</em> against. The registry
 * compares it with the version of the running core and refuses providers built for another one.
 *
 * <p>The SPI is this package and {@code dev.leviathan.core.ops} (the graph-op helpers mixers use).
 * Version 2: {@link RecurrentTokenMixer} reads a prompt with {@code prefill} and steps with the
 * position; {@code core.nn} became {@code core.ops}.
 */
public final class LeviathanSpi {
  /** Bumped whenever a change to the SPI breaks providers compiled against the previous version. */
  public static final int VERSION = 2;

  private LeviathanSpi() {}
}
