package dev.leviathan.core.registry;

import dev.leviathan.core.spi.MixerProvider;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.net.URL;
import java.nio.file.Path;
import java.security.CodeSource;

/** A registered provider with where it came from. */
public record ProviderInfo(MixerProvider provider, Kind kind, Origin origin) {
  static final String UNKNOWN_LOCATION = "unknown location";

  /** Token or channel mixer. */
  public enum Kind {
    TOKEN("token mixer"),
    CHANNEL("channel mixer");

    private final String words;

    Kind(String words) {
      this.words = words;
    }

    public String words() {
      return words;
    }
  }

  public String name() {
    return provider.name();
  }

  /** The origin as text, as recorded in checkpoints and listed by {@code leviathan mixers}. */
  public String source() {
    return origin.toString();
  }

  /** Class name and source, for messages. */
  public String describe() {
    return provider.getClass().getName() + " (" + source() + ")";
  }

  static Kind kindOf(MixerProvider p) {
    return p instanceof TokenMixerProvider ? Kind.TOKEN : Kind.CHANNEL;
  }

  /** The jar or folder a class was loaded from, or {@code unknown location}. */
  public static String locationOf(Class<?> type) {
    try {
      CodeSource cs = type.getProtectionDomain().getCodeSource();
      URL url = cs == null ? null : cs.getLocation();
      return url == null ? UNKNOWN_LOCATION : Path.of(url.toURI()).toString();
    } catch (Exception e) {
      return UNKNOWN_LOCATION;
    }
  }
}
