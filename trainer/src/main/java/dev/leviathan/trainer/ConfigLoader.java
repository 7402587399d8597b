package dev.leviathan.trainer;

import com.fasterxml.jackson.core.JsonProcessingException;
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
import java.util.List;
import java.util.stream.Collectors;

/**
 * Reads a {@link TrainConfig} from YAML and applies {@code key=value} overrides. Unknown keys and values
 * of the wrong type are rejected with the key's name; nested keys use dots
 * ({@code token-mixer-options.window=16}).
 */
public final class ConfigLoader {
  private static final ObjectMapper YAML = YAMLMapper.builder(
          YAMLFactory.builder().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
              .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES).build())
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
      .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
      .build();

  static {
    // "--set steps=abc" arrives as text: allow text -> number/boolean coercion only when it parses.
    YAML.coercionConfigFor(LogicalType.Integer).setCoercion(CoercionInputShape.String, CoercionAction.TryConvert);
    YAML.coercionConfigFor(LogicalType.Float).setCoercion(CoercionInputShape.String, CoercionAction.TryConvert);
    YAML.coercionConfigFor(LogicalType.Boolean).setCoercion(CoercionInputShape.String, CoercionAction.TryConvert);
  }

  private ConfigLoader() {}

  /** Defaults, then the YAML file (if any), then the overrides in order; validated. */
  public static TrainConfig load(Path file, List<String> overrides) {
    ObjectNode tree = YAML.valueToTree(new TrainConfig());
    if (file != null) {
      JsonNode fromFile;
      try {
        fromFile = YAML.readTree(Files.readString(file));
      } catch (NoSuchFileException e) {
        throw new ConfigException("config file " + file + " does not exist; check the --config path");
      } catch (JsonProcessingException e) {
        throw new ConfigException("config file " + file + " is not valid YAML: " + firstLine(e.getOriginalMessage())
            + (e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ")" : ""));
      } catch (IOException e) {
        throw new ConfigException("cannot read config file " + file + ": " + e.getMessage());
      }
      if (fromFile != null && !fromFile.isMissingNode() && !fromFile.isNull()) {
        if (!fromFile.isObject()) {
          throw new ConfigException("config file " + file + " must hold key: value pairs");
        }
        fromFile.fields().forEachRemaining(e -> tree.set(e.getKey(), e.getValue()));
      }
    }
    for (String o : overrides == null ? List.<String>of() : overrides) {
      apply(tree, o);
    }
    return bind(tree).validate();
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

  static TrainConfig bind(JsonNode tree) {
    try {
      return YAML.treeToValue(tree, TrainConfig.class);
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

  /** The config as YAML, as written to {@code config.yaml} and printed by {@code --print-config}. */
  public static String toYaml(TrainConfig config) {
    try {
      return YAML.writeValueAsString(config);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Reads a config written by {@link #toYaml}. */
  public static TrainConfig fromYaml(String yaml) {
    try {
      return bind(YAML.readTree(yaml)).validate();
    } catch (JsonProcessingException e) {
      throw new ConfigException("invalid config: " + firstLine(e.getOriginalMessage()));
    }
  }

  /** The config as a tree (for comparing two configs key by key). */
  public static JsonNode tree(TrainConfig c) {
    return YAML.valueToTree(c);
  }

  private static ConfigException unknownKey(String key) {
    List<String> keys = JsonMapper.builder().build().valueToTree(new TrainConfig()).properties().stream()
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
