package dev.leviathan.core.spi;

/**
 * Version of the mixer SPI.
 *
 * <p>{@link #VERSION} is a compile-time constant, so a provider that returns it from
 * {@link MixerProvider#spiVersion()} records the version it was <em>compiled</em> against. The registry
 * compares it with the version of the running core and refuses providers built for another one.
 */
public final class LeviathanSpi {
  /** Bumped whenever a change to the SPI breaks providers compiled against the previous version. */
  public static final int VERSION = 1;

  private LeviathanSpi() {}
}
