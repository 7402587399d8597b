package dev.leviathan.core.spi;

import java.util.Locale;

/** Parsing and rendering of option values as they appear in YAML configs and on the command line. */
final class OptionValues {
  private OptionValues() {}

  static String render(OptionSpec.Type type, Object value) {
    if (type == OptionSpec.Type.BOOL) {
      return Boolean.TRUE.equals(value) ? "on" : "off";
    }
    return String.valueOf(value);
  }

  /** Returns the parsed value, or {@code null} when {@code raw} cannot be read as {@code spec}'s type. */
  static Object parse(OptionSpec spec, Object raw) {
    String text = String.valueOf(raw).trim();
    switch (spec.type()) {
      case INT -> {
        if (raw instanceof Integer || raw instanceof Long || raw instanceof Short) {
          long v = ((Number) raw).longValue();
          return v == (int) v ? (int) v : null;
        }
        try {
          return Integer.parseInt(text);
        } catch (NumberFormatException e) {
          return null;
        }
      }
      case REAL -> {
        if (raw instanceof Number n) {
          return n.doubleValue();
        }
        try {
          double d = Double.parseDouble(text);
          return Double.isFinite(d) ? d : null;
        } catch (NumberFormatException e) {
          return null;
        }
      }
      case BOOL -> {
        if (raw instanceof Boolean b) {
          return b;
        }
        return switch (text.toLowerCase(Locale.ROOT)) {
          case "on", "true", "yes", "1" -> Boolean.TRUE;
          case "off", "false", "no", "0" -> Boolean.FALSE;
          default -> null;
        };
      }
      case STRING -> {
        return text;
      }
      case CHOICE -> {
        return spec.choices().contains(text) ? text : null;
      }
      default -> throw new AssertionError(spec.type());
    }
  }
}
