package dev.leviathan.core.spi;

import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * One option a mixer accepts: its name (same word in configs and on the command line), type, default
 * and one-line help. Integer and real options may carry an inclusive lower bound; choice options list
 * their allowed values.
 */
public record OptionSpec(
    String name, Type type, Object defaultValue, String help, Double min, List<String> choices) {

  /** Option value types. */
  public enum Type {
    INT("an integer"),
    REAL("a number"),
    BOOL("on|off"),
    STRING("a string"),
    CHOICE("one of the listed values");

    private final String description;

    Type(String description) {
      this.description = description;
    }

    public String description() {
      return description;
    }

    @Override
    public String toString() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public OptionSpec {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(help, "help");
    if (!MixerProvider.NAME_PATTERN.matcher(name).matches()) {
      throw new IllegalArgumentException(
          "option name '" + name + "' must use lower-case letters, digits and '-'");
    }
    choices = choices == null ? List.of() : List.copyOf(choices);
    if (type == Type.CHOICE && !choices.contains(String.valueOf(defaultValue))) {
      throw new IllegalArgumentException(
          "option '" + name + "': default '" + defaultValue + "' is not one of " + choices);
    }
  }

  public static OptionSpec integer(String name, int defaultValue, int min, String help) {
    return new OptionSpec(name, Type.INT, defaultValue, help, (double) min, null);
  }

  public static OptionSpec real(String name, double defaultValue, double min, String help) {
    return new OptionSpec(name, Type.REAL, defaultValue, help, min, null);
  }

  public static OptionSpec bool(String name, boolean defaultValue, String help) {
    return new OptionSpec(name, Type.BOOL, defaultValue, help, null, null);
  }

  public static OptionSpec string(String name, String defaultValue, String help) {
    return new OptionSpec(name, Type.STRING, defaultValue, help, null, null);
  }

  public static OptionSpec choice(String name, String defaultValue, List<String> choices, String help) {
    return new OptionSpec(name, Type.CHOICE, defaultValue, help, null, choices);
  }

  /** The default rendered the way a user would write it in a config. */
  public String defaultText() {
    return OptionValues.render(type, defaultValue);
  }

  /** What values are allowed, in words. */
  public String allowedText() {
    return switch (type) {
      case INT -> min == null ? "an integer" : "an integer >= " + min.longValue();
      case REAL -> min == null ? "a number" : "a number >= " + min;
      case BOOL -> "on|off";
      case STRING -> "a string";
      case CHOICE -> String.join("|", choices);
    };
  }
}
