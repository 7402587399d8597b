package dev.leviathan.core.plugin;

import dev.leviathan.core.registry.MixerRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * The outcome of loading plugins: one registry with the built-in mixers and every plugin provider that
 * could be registered, the plugins that contributed to it, and one problem per plugin failure.
 *
 * <p>The plugins' class loaders stay open as long as the registry is in use: a mixer's classes may
 * be loaded only when it is first built. {@link #close()} closes them; do not use the registry after.
 */
public record PluginLoadResult(MixerRegistry registry, List<LoadedPlugin> plugins, List<PluginProblem> problems)
    implements AutoCloseable {
  public PluginLoadResult {
    plugins = List.copyOf(plugins);
    problems = List.copyOf(problems);
  }

  /** The problems as lines, one per failure, in the order they were found. */
  public List<String> problemLines() {
    return problems.stream().map(PluginProblem::line).toList();
  }

  /** Closes the class loaders of the loaded plugins. */
  @Override
  public void close() {
    IOException failure = null;
    for (LoadedPlugin p : plugins) {
      try {
        p.classLoader().close();
      } catch (IOException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure != null) {
      throw new UncheckedIOException("cannot close a plugin class loader", failure);
    }
  }
}
