package dev.leviathan.trainer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamReadException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The one way into a {@link RunSpec}: defaults, then a YAML file, then typed values set by command-line
 * flags ({@link ConfigValue}), then {@code key=value} overrides ({@code --set}), bound and validated once.
 * Unknown keys, duplicate keys in a file, fractions for integer keys and values of the wrong type are
 * rejected with the key's name; nested keys use dots ({@code token-mixer-options.window=16}).
 */
public final class ConfigLoader {
  private static final ObjectMapper YAML = YAMLMapper.builder(
          YAMLFactory.builder().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
              .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
              .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build())
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
      .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
      .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
      .build();

  static {
    // "--set steps=abc" arrives as text: allow text -> number/boolean coercion only when it parses.
    YAML.coercionConfigFor(LogicalType.Integer).setCoercion(CoercionInputShape.String, CoercionAction.TryConvert);
    YAML.coercionConfigFor(LogicalType.Float).setCoercion(CoercionInputShape.String, CoercionAction.TryConvert);
    YAML.coercionConfigFor(LogicalType.Boolean).setCoercion(CoercionInputShape.String, CoercionAction.TryConvert);
  }

  /** A config key set to a typed value by a command-line flag (never re-read as YAML). */
  public record ConfigValue(String key, Object value) {
    /**
     * {@code --mixer NAME}: every layer's token mixer; the per-layer list is cleared, and the options are
     * dropped unless {@code keepOptions} (they belong to the mixer the config named before).
     */
    public static List<ConfigValue> mixer(String name, boolean keepOptions) {
      List<ConfigValue> values = new ArrayList<>(List.of(new ConfigValue("token-mixer", name),
          new ConfigValue("token-mixers", List.of())));
      if (!keepOptions) {
        values.add(new ConfigValue("token-mixer-options", Map.of()));
      }
      return values;
    }
  }

  private ConfigLoader() {}

  /** Defaults, then the YAML file (if any), then the overrides in order; validated. */
  public static RunSpec load(Path file, List<String> overrides) {
    return load(file, List.of(), overrides);
  }

  /** Defaults, then the YAML file (if any), then {@code values}, then {@code overrides}; validated. */
  public static RunSpec load(Path file, List<ConfigValue> values, List<String> overrides) {
    ObjectNode tree = defaultsAndFile(file);
    for (ConfigValue v : values) {
      set(tree, v.key(), YAML.valueToTree(v.value()));
    }
    for (String o : overrides == null ? List.<String>of() : overrides) {
      apply(tree, o);
    }
    return bind(tree).toSpec();
  }

  /** The token mixer a YAML file (or the defaults, for {@code null}) names for every layer. */
  public static String tokenMixerOf(Path file) {
    return defaultsAndFile(file).path("token-mixer").asText();
  }

  /** The default keys with those of {@code file} (if any) on top. */
  private static ObjectNode defaultsAndFile(Path file) {
    ObjectNode tree = YAML.valueToTree(new ConfigFile());
    if (file != null) {
      readFile(file).fields().forEachRemaining(e -> tree.set(e.getKey(), e.getValue()));
    }
    return tree;
  }

  private static ObjectNode readFile(Path file) {
    JsonNode fromFile;
    try {
      fromFile = YAML.readTree(InputFiles.readText(file, "config file", "--config", InputFiles.CONFIG_LIMIT,
          "a config is a short YAML file: pass one such as configs/tiny.yaml", "pass a YAML config such as"
          + " configs/tiny.yaml", ConfigException::new));
    } catch (StreamReadException e) {
      String line = e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ")" : "";
      String m = firstLine(e.getOriginalMessage());
      if (m.startsWith("Duplicate field '")) {
        String key = m.substring("Duplicate field '".length(), m.indexOf('\'', "Duplicate field '".length()));
        throw new ConfigException("config file " + file + " sets the key '" + key + "' twice" + line
            + "; keep one of them");
      }
      throw new ConfigException("config file " + file + " is not valid YAML: " + m + line);
    } catch (IOException e) {
      throw new ConfigException("cannot read config file " + file + ": " + e.getMessage());
    }
    if (fromFile == null || fromFile.isMissingNode() || fromFile.isNull()) {
      return YAML.createObjectNode();
    }
    if (!fromFile.isObject()) {
      throw new ConfigException("config file " + file + " must hold key: value pairs");
    }
    return (ObjectNode) fromFile;
  }

  /** Parses one {@code key=value}; the value is read as YAML (numbers, booleans, lists, maps). */
  static void apply(ObjectNode tree, String override) {
    int eq = override.indexOf('=');
    if (eq <= 0) {
      throw new ConfigException("--set expects key=value, got '" + override + "'");
    }
    String key = override.substring(0, eq).trim();
    String raw = override.substring(eq + 1);
    JsonNode value;
    try {
      value = raw.isEmpty() ? YAML.getNodeFactory().textNode("") : YAML.readTree(raw);
      if (value == null || value.isMissingNode()) {
        value = YAML.getNodeFactory().textNode(raw);
      }
    } catch (JsonProcessingException e) {
      value = YAML.getNodeFactory().textNode(raw);
    }
    set(tree, key, value);
  }

  /** Sets the (dotted) {@code key} of {@code tree} to {@code value}. */
  private static void set(ObjectNode tree, String key, JsonNode value) {
    String[] path = key.split("\\.");
    ObjectNode node = tree;
    for (int i = 0; i < path.length - 1; i++) {
      JsonNode child = node.get(path[i]);
      if (child == null || child.isNull()) {
        if (!tree.has(path[0])) {
          throw unknownKey(path[0]);
        }
        child = node.putObject(path[i]);
      }
      if (!child.isObject()) {
        throw new ConfigException("config key '" + String.join(".", java.util.Arrays.copyOf(path, i + 1))
            + "' is not a map, so '" + key + "' cannot be set");
      }
      node = (ObjectNode) child;
    }
    if (path.length == 1 && !tree.has(key)) {
      throw unknownKey(key);
    }
    node.set(path[path.length - 1], value);
  }

  static ConfigFile bind(JsonNode tree) {
    try {
      return YAML.treeToValue(tree, ConfigFile.class);
    } catch (UnrecognizedPropertyException e) {
      throw unknownKey(e.getPropertyName());
    } catch (InvalidFormatException e) {
      String key = path(e);
      throw new ConfigException("config key '" + key + "' must be " + typeWords(e.getTargetType())
          + ", got '" + e.getValue() + "'");
    } catch (MismatchedInputException e) {
      String key = path(e);
      throw new ConfigException("config key '" + key + "' must be " + typeWords(e.getTargetType())
          + ": " + firstLine(e.getOriginalMessage()));
    } catch (JsonProcessingException e) {
      throw new ConfigException("invalid config: " + firstLine(e.getOriginalMessage()));
    }
  }

  /** The spec as YAML, as written to {@code config.yaml} and printed by {@code --print-config}. */
  public static String toYaml(RunSpec spec) {
    try {
      return YAML.writeValueAsString(ConfigFile.of(spec));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Reads a config written by {@link #toYaml}. */
  public static RunSpec fromYaml(String yaml) {
    try {
      return bind(YAML.readTree(yaml)).toSpec();
    } catch (JsonProcessingException e) {
      throw new ConfigException("invalid config: " + firstLine(e.getOriginalMessage()));
    }
  }

  /** The spec as a tree of config keys (for comparing two specs key by key). */
  public static JsonNode tree(RunSpec spec) {
    return YAML.valueToTree(ConfigFile.of(spec));
  }

  /**
   * What differs between the model and data of two specs, one {@code key: checkpoint X, requested Y}
   * per differing key; empty when a checkpoint of {@code stored} can continue as {@code requested}.
   */
  public static List<String> modelDifferences(RunSpec stored, RunSpec requested) {
    Map<String, Object> a = identity(stored);
    Map<String, Object> b = identity(requested);
    List<String> diffs = new ArrayList<>();
    for (String k : a.keySet()) {
      JsonNode x = YAML.valueToTree(a.get(k));
      JsonNode y = YAML.valueToTree(b.get(k));
      if (!x.equals(y)) {
        diffs.add(k + ": checkpoint " + x + ", requested " + y);
      }
    }
    return diffs;
  }

  /** The data and the model architecture by config key. */
  private static Map<String, Object> identity(RunSpec spec) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("data", spec.data().file());
    m.put("tokenizer", spec.data().tokenizer());
    m.put("val-fraction", spec.data().valFraction());
    m.putAll(spec.model().architecture());
    return m;
  }

  private static ConfigException unknownKey(String key) {
    List<String> keys = JsonMapper.builder().build().valueToTree(new ConfigFile()).properties().stream()
        .map(java.util.Map.Entry::getKey).collect(Collectors.toList());
    return new ConfigException("unknown config key '" + key + "'; known keys: " + String.join(", ", keys));
  }

  private static String path(MismatchedInputException e) {
    return e.getPath().stream()
        .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
        .collect(Collectors.joining("."));
  }

  private static String typeWords(Class<?> type) {
    if (type == int.class || type == Integer.class || type == long.class || type == Long.class) {
      return "an integer";
    }
    if (type == double.class || type == Double.class) {
      return "a number";
    }
    if (type == boolean.class || type == Boolean.class) {
      return "true or false";
    }
    if (type == String.class) {
      return "a string";
    }
    if (java.util.Map.class.isAssignableFrom(type)) {
      return "a map of key: value";
    }
    if (java.util.List.class.isAssignableFrom(type)) {
      return "a list";
    }
    return "a " + type.getSimpleName();
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
