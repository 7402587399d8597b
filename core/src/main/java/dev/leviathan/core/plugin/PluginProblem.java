package dev.leviathan.core.plugin;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A plugin that could not be loaded, or one of its providers that could not be registered: the jar,
 * file or plugin folder at fault and the cause, in words a user can act on.
 */
public record PluginProblem(Path path, String cause) {
  public PluginProblem {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(cause, "cause");
    cause = cause.replaceAll("\\s*\\R\\s*", " ").strip();
  }

  /** The problem as one line: {@code plugin <path>: <cause>}. */
  public String line() {
    return "plugin " + path + ": " + cause;
  }

  @Override
  public String toString() {
    return line();
  }
}
