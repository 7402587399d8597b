package dev.leviathan.core.spi;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The resolved options of one mixer instance: every declared option has a value (given or default),
 * parsed to its type and checked against its bound or choices. Providers read them with the typed
 * getters and report further constraints with {@link #invalid}.
 */
public final class MixerOptions {
  private final String mixer;
  private final Map<String, OptionSpec> specs;
  private final Map<String, Object> values;

  private MixerOptions(String mixer, Map<String, OptionSpec> specs, Map<String, Object> values) {
    this.mixer = mixer;
    this.specs = specs;
    this.values = values;
  }

  /**
   * Resolves raw option values (from YAML or {@code --set}) against a provider's declared options.
   *
   * @throws InvalidMixerOptionException naming the mixer, the option and the allowed values
   */
  public static MixerOptions resolve(MixerProvider provider, Map<String, ?> raw) {
    String mixer = provider.name();
    Map<String, OptionSpec> specs = new LinkedHashMap<>();
    for (OptionSpec s : provider.options()) {
      specs.put(s.name(), s);
    }
    Map<String, Object> values = new LinkedHashMap<>();
    for (OptionSpec s : specs.values()) {
      values.put(s.name(), s.defaultValue());
    }
    for (Map.Entry<String, ?> e : (raw == null ? Map.<String, Object>of() : raw).entrySet()) {
      OptionSpec spec = specs.get(e.getKey());
      if (spec == null) {
        String known = specs.isEmpty() ? "it takes no options" : "known options: " + String.join(", ", specs.keySet());
        throw new InvalidMixerOptionException(
            mixer, e.getKey(), "mixer '" + mixer + "' has no option '" + e.getKey() + "' (" + known + ")");
      }
      Object v = OptionValues.parse(spec, e.getValue());
      if (v == null) {
        throw new InvalidMixerOptionException(
            mixer,
            spec.name(),
            "mixer '" + mixer + "': option '" + spec.name() + "' must be " + spec.allowedText()
                + ", got '" + e.getValue() + "'");
      }
      if (spec.min() != null && ((Number) v).doubleValue() < spec.min()) {
        throw new InvalidMixerOptionException(
            mixer,
            spec.name(),
            "mixer '" + mixer + "': option '" + spec.name() + "' must be " + spec.allowedText()
                + ", got " + OptionValues.render(spec.type(), v));
      }
      values.put(spec.name(), v);
    }
    return new MixerOptions(mixer, specs, values);
  }

  public String mixer() {
    return mixer;
  }

  public int getInt(String name) {
    return (Integer) get(name, OptionSpec.Type.INT);
  }

  public double getReal(String name) {
    return (Double) ((Number) get(name, OptionSpec.Type.REAL)).doubleValue();
  }

  public boolean getBool(String name) {
    return (Boolean) get(name, OptionSpec.Type.BOOL);
  }

  public String getString(String name) {
    OptionSpec spec = spec(name);
    if (spec.type() != OptionSpec.Type.STRING && spec.type() != OptionSpec.Type.CHOICE) {
      throw new IllegalStateException("option '" + name + "' of " + mixer + " is " + spec.type());
    }
    return (String) values.get(name);
  }

  /** The resolved values rendered as config text (for run records and {@code --print-config}). */
  public Map<String, String> asText() {
    return values.entrySet().stream()
        .collect(Collectors.toMap(
            Map.Entry::getKey,
            e -> OptionValues.render(specs.get(e.getKey()).type(), e.getValue()),
            (a, b) -> a,
            LinkedHashMap::new));
  }

  /** An error for an option whose value breaks a constraint the spec alone cannot express. */
  public InvalidMixerOptionException invalid(String option, String mustBe) {
    Object v = values.get(option);
    OptionSpec s = specs.get(option);
    return new InvalidMixerOptionException(
        mixer,
        option,
        "mixer '" + mixer + "': option '" + option + "' = "
            + (s == null ? v : OptionValues.render(s.type(), v)) + " is invalid: it must " + mustBe);
  }

  /** Throws {@link #invalid} unless {@code ok}. */
  public void require(boolean ok, String option, String mustBe) {
    if (!ok) {
      throw invalid(option, mustBe);
    }
  }

  /** Checks that {@code heads} divides {@code width}, with the allowed values in the message. */
  public int heads(String option, int width) {
    int h = getInt(option);
    if (h < 1 || width % h != 0) {
      List<String> divisors = new java.util.ArrayList<>();
      for (int d = 1; d <= width; d++) {
        if (width % d == 0) {
          divisors.add(Integer.toString(d));
        }
      }
      throw invalid(option, "divide the width " + width + " (allowed: " + String.join(", ", divisors) + ")");
    }
    return h;
  }

  private Object get(String name, OptionSpec.Type type) {
    OptionSpec spec = spec(name);
    if (spec.type() != type) {
      throw new IllegalStateException("option '" + name + "' of " + mixer + " is " + spec.type() + ", not " + type);
    }
    return values.get(name);
  }

  private OptionSpec spec(String name) {
    OptionSpec spec = specs.get(name);
    if (spec == null) {
      throw new IllegalStateException("mixer '" + mixer + "' did not declare option '" + name + "'");
    }
    return spec;
  }

  @Override
  public String toString() {
    return mixer + asText();
  }
}
