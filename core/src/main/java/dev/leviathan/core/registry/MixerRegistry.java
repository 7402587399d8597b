package dev.leviathan.core.registry;

import dev.leviathan.core.spi.ChannelMixerProvider;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerProvider;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * The token and channel mixers available to a model, by name. Lookups of unknown names fail with the
 * list of names that exist; registering two providers with one name, a provider with an invalid name,
 * or one compiled against another SPI version fails with a message naming the classes and jars.
 */
public final class MixerRegistry {
  private final Map<String, ProviderInfo> tokenMixers;
  private final Map<String, ProviderInfo> channelMixers;

  private MixerRegistry(Map<String, ProviderInfo> token, Map<String, ProviderInfo> channel) {
    this.tokenMixers = Collections.unmodifiableMap(token);
    this.channelMixers = Collections.unmodifiableMap(channel);
  }

  /**
   * The built-in providers of this class's class loader ({@link Builder#loadBuiltIns}), each tagged with
   * the jar or class folder it came from. With plugin folders, use
   * {@code dev.leviathan.core.plugin.MixerDiscovery}, which starts from the same built-ins.
   */
  public static MixerRegistry discover() {
    return builder().loadBuiltIns(MixerRegistry.class.getClassLoader()).build();
  }

  public static Builder builder() {
    return new Builder();
  }

  public TokenMixerProvider tokenMixer(String name) {
    return (TokenMixerProvider) lookup(tokenMixers, name, ProviderInfo.Kind.TOKEN).provider();
  }

  public ChannelMixerProvider channelMixer(String name) {
    return (ChannelMixerProvider) lookup(channelMixers, name, ProviderInfo.Kind.CHANNEL).provider();
  }

  /** The registration of a token mixer (with its source). */
  public ProviderInfo tokenMixerInfo(String name) {
    return lookup(tokenMixers, name, ProviderInfo.Kind.TOKEN);
  }

  public ProviderInfo channelMixerInfo(String name) {
    return lookup(channelMixers, name, ProviderInfo.Kind.CHANNEL);
  }

  public boolean hasTokenMixer(String name) {
    return tokenMixers.containsKey(name);
  }

  public boolean hasChannelMixer(String name) {
    return channelMixers.containsKey(name);
  }

  /** All token mixers, sorted by name. */
  public Collection<ProviderInfo> tokenMixers() {
    return tokenMixers.values();
  }

  /** All channel mixers, sorted by name. */
  public Collection<ProviderInfo> channelMixers() {
    return channelMixers.values();
  }

  private static ProviderInfo lookup(Map<String, ProviderInfo> map, String name, ProviderInfo.Kind kind) {
    ProviderInfo p = map.get(name);
    if (p == null) {
      throw new RegistryException(
          "A " + kind.words() + " named '" + name + "' does not exist. You need to add the jar that"
              + " provides it to the plugins folder or class path. The current " + kind.words()
              + "s are: " + String.join(", ", map.keySet()));
    }
    return p;
  }

  /** Collects providers and checks names, SPI versions and duplicates. */
  public static final class Builder {
    private final Map<String, ProviderInfo> token = new TreeMap<>();
    private final Map<String, ProviderInfo> channel = new TreeMap<>();

    private Builder() {}

    /** Adds the providers {@link ServiceLoader} finds on {@code loader} as built-ins, with their jar or folder. */
    public Builder loadBuiltIns(ClassLoader loader) {
      return load(loader, Origin::builtIn);
    }

    /** Adds the providers {@link ServiceLoader} finds on {@code loader}, with the origin {@code originOf} gives. */
    public Builder load(ClassLoader loader, Function<Class<?>, Origin> sourceOf) {
      loadAll(ServiceLoader.load(TokenMixerProvider.class, loader), sourceOf);
      loadAll(ServiceLoader.load(ChannelMixerProvider.class, loader), sourceOf);
      return this;
    }

    private <S extends MixerProvider> void loadAll(ServiceLoader<S> loader, Function<Class<?>, Origin> sourceOf) {
      var it = loader.iterator();
      while (true) {
        try {
          if (!it.hasNext()) {
            return;
          }
          S p = it.next();
          add(p, sourceOf.apply(p.getClass()));
        } catch (ServiceConfigurationError e) {
          Throwable cause = e.getCause() != null ? e.getCause() : e;
          throw new RegistryException("cannot load a mixer provider: " + e.getMessage()
              + (cause != e ? " (" + cause + ")" : ""), e);
        }
      }
    }

    /** Registers a provider of the plugin at {@code location} (see {@link #add(MixerProvider, Origin)}). */
    public Builder add(MixerProvider provider, String location) {
      return add(provider, Origin.plugin(java.nio.file.Path.of(location)));
    }

    /**
     * Registers one provider.
     *
     * @throws RegistryException on an invalid name, a different SPI version or a duplicate name
     */
    public Builder add(MixerProvider provider, Origin origin) {
      ProviderInfo.Kind kind = ProviderInfo.kindOf(provider);
      ProviderInfo info = new ProviderInfo(provider, kind, origin);
      String name = provider.name();
      if (name == null || !MixerProvider.NAME_PATTERN.matcher(name).matches()) {
        throw new RegistryException(
            kind.words() + " " + info.describe() + " has the invalid name '" + name
                + "': use lower-case letters, digits and '-'");
      }
      if (provider.spiVersion() != LeviathanSpi.VERSION) {
        throw new RegistryException(
            kind.words() + " '" + name + "' from " + info.describe() + " was built for Leviathan SPI version "
                + provider.spiVersion() + ", but this Leviathan provides SPI version " + LeviathanSpi.VERSION
                + "; rebuild the plugin against this version of leviathan-core");
      }
      Map<String, ProviderInfo> map = kind == ProviderInfo.Kind.TOKEN ? token : channel;
      ProviderInfo existing = map.get(name);
      if (existing != null) {
        throw new RegistryException(
            "two " + kind.words() + "s are named '" + name + "': " + existing.describe() + " and "
                + info.describe() + "; remove one of them or rename its provider");
      }
      map.put(name, info);
      return this;
    }

    public MixerRegistry build() {
      return new MixerRegistry(new TreeMap<>(token), new TreeMap<>(channel));
    }
  }
}
