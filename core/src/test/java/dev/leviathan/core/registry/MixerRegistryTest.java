package dev.leviathan.core.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.channel.MlpChannelMixer;
import dev.leviathan.core.channel.SwiGluChannelMixer;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.List;
import org.junit.jupiter.api.Test;

class MixerRegistryTest {
  static class Named implements TokenMixerProvider {
    private final String name;
    private final int spi;

    Named(String name, int spi) {
      this.name = name;
      this.spi = spi;
    }

    @Override public String name() { return name; }
    @Override public String description() { return "test mixer"; }
    @Override public int spiVersion() { return spi; }
    @Override public boolean causal() { return true; }
    @Override public List<OptionSpec> options() { return List.of(); }
    @Override public TokenMixer create(LayerContext layer, MixerOptions options) { return x -> x; }
  }

  static final class Other extends Named {
    Other(String name) {
      super(name, LeviathanSpi.VERSION);
    }
  }

  @Test
  void discoversCoreChannelMixersWithTheirJar() {
    MixerRegistry r = MixerRegistry.discover();
    assertTrue(r.hasChannelMixer("mlp"));
    assertTrue(r.hasChannelMixer("swiglu"));
    assertTrue(r.channelMixer("mlp") instanceof MlpChannelMixer);
    assertTrue(r.channelMixer("swiglu") instanceof SwiGluChannelMixer);
    String source = r.channelMixerInfo("mlp").source();
    assertTrue(source.contains("core"), source);
  }

  @Test
  void unknownNameListsTheAvailableOnes() {
    MixerRegistry r = MixerRegistry.builder()
        .add(new Named("alpha", LeviathanSpi.VERSION), "a.jar")
        .add(new Named("beta", LeviathanSpi.VERSION), "b.jar")
        .build();
    RegistryException e = assertThrows(RegistryException.class, () -> r.tokenMixer("gamma"));
    assertEquals("A token mixer named 'gamma' does not exist. You need to add the jar that provides it"
        + " to the plugins folder or class path. The current token mixers are: alpha, beta", e.getMessage());
  }

  @Test
  void duplicateNamesNameBothClassesAndJars() {
    MixerRegistry.Builder b = MixerRegistry.builder().add(new Named("alpha", LeviathanSpi.VERSION), "/x/first.jar");
    RegistryException e = assertThrows(RegistryException.class, () -> b.add(new Other("alpha"), "/y/second.jar"));
    assertEquals("two token mixers are named 'alpha': " + Named.class.getName() + " (/x/first.jar) and "
        + Other.class.getName() + " (/y/second.jar); remove one of them or rename its provider", e.getMessage());
  }

  @Test
  void otherSpiVersionIsRefusedWithBothVersions() {
    RegistryException e = assertThrows(RegistryException.class,
        () -> MixerRegistry.builder().add(new Named("old", LeviathanSpi.VERSION + 1), "/p/old.jar"));
    assertEquals("token mixer 'old' from " + Named.class.getName() + " (/p/old.jar) was built for Leviathan SPI"
        + " version " + (LeviathanSpi.VERSION + 1) + ", but this Leviathan provides SPI version "
        + LeviathanSpi.VERSION + "; rebuild the plugin against this version of leviathan-core", e.getMessage());
  }

  @Test
  void invalidNamesAreRefused() {
    for (String bad : new String[] {"Attention", "my_mixer", "", "-x", "a b"}) {
      RegistryException e = assertThrows(RegistryException.class,
          () -> MixerRegistry.builder().add(new Named(bad, LeviathanSpi.VERSION), "x.jar"));
      assertTrue(e.getMessage().contains("invalid name '" + bad + "'"), e.getMessage());
    }
  }

  @Test
  void sameNameAsTokenAndChannelMixerIsAllowed() {
    MixerRegistry r = MixerRegistry.builder()
        .add(new Named("mlp", LeviathanSpi.VERSION), "x.jar")
        .add(new MlpChannelMixer(), "built-in")
        .build();
    assertTrue(r.hasTokenMixer("mlp"));
    assertTrue(r.hasChannelMixer("mlp"));
  }
}
