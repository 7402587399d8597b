package dev.leviathan.trainer;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** JSON helpers for run records. */
public final class Json {
  private static final ObjectMapper MAPPER = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  private Json() {}

  public static String pretty(Object value) {
    try {
      return MAPPER.writeValueAsString(value) + "\n";
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Reads a JSON object; a missing or unreadable file gives an empty map. */
  public static Map<String, Object> readMap(Path file) {
    if (!Files.exists(file)) {
      return new LinkedHashMap<>();
    }
    try {
      return MAPPER.readValue(file.toFile(), new TypeReference<LinkedHashMap<String, Object>>() {});
    } catch (IOException e) {
      return new LinkedHashMap<>();
    }
  }

  /** Reads a JSON file as {@code type}; a missing or unreadable file gives {@code null}. */
  static <T> T read(Path file, Class<T> type) {
    if (!Files.exists(file)) {
      return null;
    }
    try {
      return MAPPER.readValue(file.toFile(), type);
    } catch (IOException e) {
      return null;
    }
  }
}
