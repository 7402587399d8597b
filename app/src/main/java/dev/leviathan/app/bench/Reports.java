package dev.leviathan.app.bench;

import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Writing result files (CSV cells, text tables, whole files replaced atomically) and one-line errors. */
final class Reports {
  private Reports() {}

  /** A CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break. */
  static String cell(String value) {
    if (value == null) {
      return "";
    }
    if (value.contains(",") || value.contains("\"") || value.contains("\n") || value.contains("\r")) {
      return "\"" + value.replace("\"", "\"\"") + "\"";
    }
    return value;
  }

  /** A number with {@code decimals} digits after the point, or an empty cell for null or non-finite. */
  static String number(Double value, int decimals) {
    if (value == null || !Double.isFinite(value)) {
      return "";
    }
    return String.format(Locale.ROOT, "%." + decimals + "f", value);
  }

  /** Splits one CSV line into cells (quoted cells as written by {@link #cell}). */
  static List<String> cells(String line) {
    List<String> out = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    boolean quoted = false;
    for (int i = 0; i < line.length(); i++) {
      char ch = line.charAt(i);
      if (quoted) {
        if (ch == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
          cur.append('"');
          i++;
        } else if (ch == '"') {
          quoted = false;
        } else {
          cur.append(ch);
        }
      } else if (ch == '"') {
        quoted = true;
      } else if (ch == ',') {
        out.add(cur.toString());
        cur.setLength(0);
      } else {
        cur.append(ch);
      }
    }
    out.add(cur.toString());
    return out;
  }

  static String table(List<String> header, List<List<String>> rows) {
    int[] width = new int[header.size()];
    for (int i = 0; i < header.size(); i++) {
      width[i] = header.get(i).length();
    }
    for (List<String> r : rows) {
      for (int i = 0; i < r.size(); i++) {
        width[i] = Math.max(width[i], r.get(i).length());
      }
    }
    StringBuilder sb = new StringBuilder();
    List<List<String>> all = new ArrayList<>();
    all.add(header);
    all.addAll(rows);
    for (List<String> r : all) {
      for (int i = 0; i < r.size(); i++) {
        String v = r.get(i);
        boolean left = i == 0 || !looksNumeric(v);
        String padded = left ? v + " ".repeat(width[i] - v.length()) : " ".repeat(width[i] - v.length()) + v;
        sb.append(i == 0 ? "" : "  ").append(padded);
      }
      sb.append(System.lineSeparator());
    }
    return sb.toString().replaceAll("(?m) +$", "");
  }

  private static boolean looksNumeric(String v) {
    return !v.isEmpty() && v.chars().allMatch(c -> Character.isDigit(c) || c == '.' || c == ',' || c == '-');
  }

  /** The first line of an error's message, prefixed with its class where the class says something. */
  static String oneLine(Throwable t) {
    String m = t.getMessage();
    if (m == null || m.isBlank()) {
      m = t.getClass().getSimpleName();
    } else if (!(t instanceof IllegalArgumentException) && !(t instanceof IllegalStateException)
        && !(t instanceof UncheckedIOException)) {
      m = t.getClass().getSimpleName() + ": " + m;
    }
    return m.lines().findFirst().orElse(m).strip();
  }
}
