package dev.leviathan.app;

import dev.leviathan.core.plugin.PluginLoadResult;
import dev.leviathan.core.plugin.PluginLoader;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.registry.ProviderInfo;
import java.nio.file.Path;
import java.util.List;

/**
 * Finds the built-in mixers on the app's class path and the plugin mixers in the plugin folders
 * ({@code --plugins}, {@code LEVIATHAN_PLUGINS}, {@code ./plugins}); each plugin gets its own class loader.
 */
final class MixerDiscovery {
  private MixerDiscovery() {}

  /** The registry and one line per plugin that could not be loaded. */
  record Found(MixerRegistry registry, List<String> problems) {}

  static Found discover(List<Path> cliDirs, String envValue, Path workingDir) {
    MixerRegistry.Builder builtIns = MixerRegistry.builder();
    builtIns.load(MixerDiscovery.class.getClassLoader(), c -> "built-in (" + jarName(c) + ")");
    List<Path> dirs = PluginLoader.pluginDirectories(cliDirs, envValue, workingDir);
    // The plugin class loaders stay open for the life of the process: mixer classes may load late.
    PluginLoadResult loaded = new PluginLoader(MixerDiscovery.class.getClassLoader()).load(builtIns, dirs);
    return new Found(loaded.registry(), loaded.problemLines());
  }

  private static String jarName(Class<?> c) {
    return Path.of(ProviderInfo.locationOf(c)).getFileName().toString();
  }
}
