package dev.leviathan.core.registry;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Where a registered provider came from: built into the application (its jar or class folder, when
 * known) or a plugin (the plugin's jar, or its folder of jars).
 */
public record Origin(Type type, Path location) {
  /** Built in or plugin. */
  public enum Type {
    BUILT_IN,
    PLUGIN
  }

  public Origin {
    Objects.requireNonNull(type, "type");
    if (type == Type.PLUGIN) {
      Objects.requireNonNull(location, "a plugin's location");
    }
  }

  /** A provider on the application's own class path, without recording where exactly. */
  public static final Origin BUILT_IN = new Origin(Type.BUILT_IN, null);

  /** A provider on the application's own class path, in the jar or class folder of {@code type}. */
  public static Origin builtIn(Class<?> type) {
    String location = ProviderInfo.locationOf(type);
    return new Origin(Type.BUILT_IN, location.equals(ProviderInfo.UNKNOWN_LOCATION) ? null : Path.of(location));
  }

  /** A provider of the plugin at {@code location}. */
  public static Origin plugin(Path location) {
    return new Origin(Type.PLUGIN, location);
  }

  public boolean builtIn() {
    return type == Type.BUILT_IN;
  }

  /**
   * How messages and run records name it: {@code built-in (leviathan-mixers-aft-0.1.0.jar)} (a class folder
   * is named by its full path), {@code built-in} without a location, or the plugin's path.
   */
  @Override
  public String toString() {
    if (type == Type.PLUGIN) {
      return location.toString();
    }
    if (location == null) {
      return "built-in";
    }
    String file = location.getFileName() == null ? location.toString() : location.getFileName().toString();
    return "built-in (" + (file.endsWith(".jar") ? file : location.toString()) + ")";
  }
}
