package dev.leviathan.core.spi;

import java.util.List;
import java.util.regex.Pattern;

/**
 * What every mixer provider declares about itself. Implementations are found with
 * {@link java.util.ServiceLoader} through {@link TokenMixerProvider} and {@link ChannelMixerProvider}.
 */
public interface MixerProvider {
  /** Allowed provider names: lower-case letters, digits and '-', starting with a letter or digit. */
  Pattern NAME_PATTERN = Pattern.compile("[a-z0-9][a-z0-9-]*");

  /** Short name used in configs and on the command line, e.g. {@code attention}. */
  String name();

  /** One-line description shown by {@code leviathan mixers}. */
  String description();

  /**
   * The SPI version this provider was compiled against. Implement it as {@code return
   * LeviathanSpi.VERSION;} so the compiler inlines the constant of the core you built with.
   */
  int spiVersion();

  /** Version of the provider implementation itself (recorded in checkpoints). */
  default String version() {
    Package p = getClass().getPackage();
    String v = p == null ? null : p.getImplementationVersion();
    return v == null ? "dev" : v;
  }

  /** Whether the output at position t depends only on inputs at positions <= t. */
  boolean causal();

  /** The options this mixer accepts, with types, defaults and help. */
  List<OptionSpec> options();
}
