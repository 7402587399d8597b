package dev.leviathan.app;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import com.google.inject.TypeLiteral;
import com.google.inject.name.Names;
import dev.leviathan.core.plugin.PluginLoadResult;
import dev.leviathan.core.plugin.PluginLoader;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.trainer.Trainer;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Wires the app: the plugin folders ({@code --plugins}, {@code LEVIATHAN_PLUGINS}, {@code ./plugins}), the
 * mixers discovered once from the built-ins and those folders ({@link PluginLoader#discover}) and their
 * registry, and the trainer; commands are injected with them.
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
    bind(new TypeLiteral<Map<String, String>>() {}).annotatedWith(Names.named("env")).toInstance(env);

    List<Path> dirs = PluginLoader.pluginDirectories(pluginDirs, env.get(PluginLoader.ENVIRONMENT_VARIABLE), workingDir);
    bind(new TypeLiteral<List<Path>>() {}).annotatedWith(Names.named("pluginDirs")).toInstance(dirs);
    // The plugin class loaders stay open for the life of the process: mixer classes may load late.
    PluginLoadResult found = new PluginLoader(AppModule.class.getClassLoader(),
        PluginLoader.timeLimit(env.get(PluginLoader.TIME_LIMIT_VARIABLE))).discover(dirs);
    bind(PluginLoadResult.class).toInstance(found);
    bind(MixerRegistry.class).toInstance(found.registry());
  }

  @Provides
  @Singleton
  Trainer trainer(MixerRegistry registry) {
    return new Trainer(registry);
  }
}
