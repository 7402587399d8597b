package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
  @TempDir Path dir;

  @Test
  void yamlThenOverridesInOrder() throws Exception {
    Path f = dir.resolve("c.yaml");
    Files.writeString(f, "steps: 50\nwidth: 64\ntoken-mixer: aft-local\ntoken-mixer-options: {window: 8}\n");
    TrainConfig c = ConfigLoader.load(f, List.of("steps=70", "token-mixer-options.window=16", "lr=3e-4", "norm=rmsnorm"));
    assertEquals(70, c.steps);
    assertEquals(64, c.width);
    assertEquals("aft-local", c.tokenMixer);
    assertEquals(Map.of("window", 16), c.tokenMixerOptions);
    assertEquals(3e-4, c.lr);
    assertEquals("rmsnorm", c.norm);
  }

  @Test
  void unknownKeysAreRejectedWithTheirName() throws Exception {
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(null, List.of("stepz=3")));
    assertTrue(e.getMessage().startsWith("unknown config key 'stepz'; known keys: data, tokenizer,"), e.getMessage());
    Path f = dir.resolve("bad.yaml");
    Files.writeString(f, "widht: 3\n");
    e = assertThrows(ConfigException.class, () -> ConfigLoader.load(f, List.of()));
    assertTrue(e.getMessage().startsWith("unknown config key 'widht'"), e.getMessage());
  }

  @Test
  void wrongTypesNameTheKey() {
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(null, List.of("steps=lots")));
    assertEquals("config key 'steps' must be an integer, got 'lots'", e.getMessage());
    e = assertThrows(ConfigException.class, () -> ConfigLoader.load(null, List.of("position-embedding=maybe")));
    assertTrue(e.getMessage().startsWith("config key 'position-embedding' must be true or false"), e.getMessage());
    e = assertThrows(ConfigException.class, () -> ConfigLoader.load(null, List.of("steps")));
    assertEquals("--set expects key=value, got 'steps'", e.getMessage());
  }

  @Test
  void badValuesAreRejected() {
    assertEquals("steps must be >= 1, got 0",
        assertThrows(ConfigException.class, () -> ConfigLoader.load(null, List.of("steps=0"))).getMessage());
    assertEquals("min-lr must be between 0 and lr (0.001), got 0.1",
        assertThrows(ConfigException.class, () -> ConfigLoader.load(null, List.of("min-lr=0.1"))).getMessage());
    assertEquals("norm must be layernorm or rmsnorm, got 'batch'",
        assertThrows(ConfigException.class, () -> ConfigLoader.load(null, List.of("norm=batch"))).getMessage());
  }

  @Test
  void missingOrBrokenFiles() throws Exception {
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(dir.resolve("nope.yaml"), List.of()));
    assertTrue(e.getMessage().endsWith("does not exist; check the --config path"), e.getMessage());
    Path f = dir.resolve("broken.yaml");
    Files.writeString(f, "steps: [1, 2\n");
    e = assertThrows(ConfigException.class, () -> ConfigLoader.load(f, List.of()));
    assertTrue(e.getMessage().contains("is not valid YAML"), e.getMessage());
  }

  @Test
  void yamlRoundTripAndPerLayerMixers() {
    TrainConfig c = ConfigLoader.load(null, List.of("layers=3",
        "token-mixers=[aft-local, {name: attention, options: {heads: 2}}, aft-local]"));
    TrainConfig back = ConfigLoader.fromYaml(ConfigLoader.toYaml(c));
    assertEquals(ConfigLoader.tree(c), ConfigLoader.tree(back));
    assertEquals("aft-local+attention", c.mixerLabel());
    assertEquals(Map.of("heads", 2), c.tokenMixerSpecs().get(1).options());
  }

  @Test
  void shippedPresetsLoad() {
    for (String name : List.of("nanogpt-cpu.yaml", "tiny-test.yaml", "mml.yaml")) {
      Path p = Path.of("..", "configs", name);
      TrainConfig c = ConfigLoader.load(p, List.of());
      assertTrue(c.steps > 0, name);
    }
    TrainConfig nano = ConfigLoader.load(Path.of("..", "configs", "nanogpt-cpu.yaml"), List.of());
    assertEquals(List.of(4, 128, 64, 12, 2000, 100), List.of(nano.layers, nano.width, nano.context, nano.batch,
        nano.steps, nano.warmup));
    assertEquals(1e-3, nano.lr);
    assertEquals(1e-4, nano.minLr);
  }
}
