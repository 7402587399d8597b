package dev.leviathan.core.plugin;

import dev.leviathan.core.registry.ProviderInfo;
import java.nio.file.Path;
import java.util.List;

/**
 * A plugin with at least one registered provider.
 *
 * @param path the plugin's jar, or its folder of jars
 * @param jars the jars on its class path
 * @param classLoader its own class loader
 * @param providers the providers it added to the registry, each with the jar it came from as source
 */
public record LoadedPlugin(Path path, List<Path> jars, PluginClassLoader classLoader, List<ProviderInfo> providers) {
  public LoadedPlugin {
    jars = List.copyOf(jars);
    providers = List.copyOf(providers);
  }
}
