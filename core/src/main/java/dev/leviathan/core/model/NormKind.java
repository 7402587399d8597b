package dev.leviathan.core.model;

import java.util.Locale;

/** Normalisation used before each mixer and at the end of the stack. */
public enum NormKind {
  LAYERNORM,
  RMSNORM;

  public static NormKind parse(String s) {
    for (NormKind k : values()) {
      if (k.configName().equals(s.trim().toLowerCase(Locale.ROOT))) {
        return k;
      }
    }
    throw new ModelConfigException("norm must be layernorm or rmsnorm, got '" + s + "'");
  }

  public String configName() {
    return name().toLowerCase(Locale.ROOT);
  }
}
