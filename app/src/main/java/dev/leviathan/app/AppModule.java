package dev.leviathan.app;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import com.google.inject.multibindings.MapBinder;
import com.google.inject.name.Named;
import com.google.inject.name.Names;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.registry.ProviderInfo;
import dev.leviathan.trainer.Trainer;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Wires the app: discovered mixer providers (built-in and plugins) are bound into {@link MapBinder}s
 * keyed by name, the registry is built from those maps, and the trainer and commands are injected with it.
 */
final class AppModule extends AbstractModule {
  private final PrintStream out;
  private final PrintStream err;
  private final Map<String, String> env;
  private final Path workingDir;
  private final List<Path> pluginDirs;
  private final boolean installSignalHandler;

  AppModule(PrintStream out, PrintStream err, Map<String, String> env, Path workingDir, List<Path> pluginDirs,
      boolean installSignalHandler) {
    this.out = out;
    this.err = err;
    this.env = env;
    this.workingDir = workingDir;
    this.pluginDirs = pluginDirs;
    this.installSignalHandler = installSignalHandler;
  }

  @Override
  protected void configure() {
    bind(PrintStream.class).annotatedWith(Names.named("out")).toInstance(out);
    bind(PrintStream.class).annotatedWith(Names.named("err")).toInstance(err);
    bind(Path.class).annotatedWith(Names.named("workingDir")).toInstance(workingDir);
    bind(Boolean.class).annotatedWith(Names.named("installSignalHandler")).toInstance(installSignalHandler);
    bind(new com.google.inject.TypeLiteral<Map<String, String>>() {}).annotatedWith(Names.named("env")).toInstance(env);

    MixerDiscovery.Found found = MixerDiscovery.discover(pluginDirs, env.get("LEVIATHAN_PLUGINS"), workingDir);
    bind(MixerDiscovery.Found.class).toInstance(found);
    MapBinder<String, ProviderInfo> tokens =
        MapBinder.newMapBinder(binder(), String.class, ProviderInfo.class, Names.named("token-mixers"));
    MapBinder<String, ProviderInfo> channels =
        MapBinder.newMapBinder(binder(), String.class, ProviderInfo.class, Names.named("channel-mixers"));
    found.registry().tokenMixers().forEach(p -> tokens.addBinding(p.name()).toInstance(p));
    found.registry().channelMixers().forEach(p -> channels.addBinding(p.name()).toInstance(p));
  }

  @Provides
  @Singleton
  MixerRegistry registry(@Named("token-mixers") Map<String, ProviderInfo> tokens,
      @Named("channel-mixers") Map<String, ProviderInfo> channels) {
    MixerRegistry.Builder b = MixerRegistry.builder();
    tokens.values().forEach(p -> b.add(p.provider(), p.source()));
    channels.values().forEach(p -> b.add(p.provider(), p.source()));
    return b.build();
  }

  @Provides
  @Singleton
  Trainer trainer(MixerRegistry registry) {
    return new Trainer(registry);
  }
}
