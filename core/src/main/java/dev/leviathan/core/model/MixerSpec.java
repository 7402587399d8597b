package dev.leviathan.core.model;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/** A mixer by name with its raw options, as written in a config. */
public record MixerSpec(String name, Map<String, Object> options) {
  public MixerSpec {
    Objects.requireNonNull(name, "name");
    options = options == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(options));
  }

  public static MixerSpec of(String name) {
    return new MixerSpec(name, Map.of());
  }

  public static MixerSpec of(String name, Map<String, ?> options) {
    return new MixerSpec(name, new LinkedHashMap<>(options));
  }

  @Override
  public String toString() {
    return options.isEmpty() ? name : name + options;
  }
}
