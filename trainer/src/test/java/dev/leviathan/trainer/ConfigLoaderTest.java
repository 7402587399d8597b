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
    RunSpec c = ConfigLoader.load(f, List.of("steps=70", "token-mixer-options.window=16", "lr=3e-4", "norm=rmsnorm"));
    assertEquals(70, c.schedule().steps());
    assertEquals(64, c.model().width());
    assertEquals("aft-local", c.model().tokenMixer().name());
    assertEquals(Map.of("window", 16), c.model().tokenMixer().options());
    assertEquals(3e-4, c.optimizer().lr());
    assertEquals("rmsnorm", c.model().norm().configName());
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
    RunSpec c = ConfigLoader.load(null, List.of("layers=3",
        "token-mixers=[aft-local, {name: attention, options: {heads: 2}}, aft-local]"));
    RunSpec back = ConfigLoader.fromYaml(ConfigLoader.toYaml(c));
    assertEquals(ConfigLoader.tree(c), ConfigLoader.tree(back));
    assertEquals("aft-local+attention", c.model().mixerLabel());
    assertEquals(Map.of("heads", 2), c.model().layerTokenMixers().get(1).options());
  }

  @Test
  void shippedPresetsLoad() {
    for (String name : List.of("nanogpt-cpu.yaml", "tiny-test.yaml", "mml.yaml")) {
      Path p = Path.of("..", "configs", name);
      RunSpec c = ConfigLoader.load(p, List.of());
      assertTrue(c.schedule().steps() > 0, name);
    }
    RunSpec nano = ConfigLoader.load(Path.of("..", "configs", "nanogpt-cpu.yaml"), List.of());
    assertEquals(List.of(4, 128, 64, 12, 2000, 100), List.of(nano.model().layers(), nano.model().width(),
        nano.model().context(), nano.schedule().batch(), nano.schedule().steps(), nano.optimizer().warmup()));
    assertEquals(1e-3, nano.optimizer().lr());
    assertEquals(1e-4, nano.optimizer().minLr());
  }

  @Test
  void integerKeysRejectFractionsAndRangesNameTheirKey() throws Exception {
    assertEquals("config key 'steps' must be an integer, got '2.5'",
        assertThrows(ConfigException.class, () -> ConfigLoader.load(null, List.of("steps=2.5"))).getMessage());
    assertEquals("config key 'layers' must be an integer, got '1.5'", assertThrows(ConfigException.class,
        () -> ConfigLoader.load(null, List.of(new ConfigLoader.ConfigValue("layers", "1.5")), List.of())).getMessage());
    Path f = dir.resolve("fraction.yaml");
    Files.writeString(f, "layers: 2.5\n");
    assertEquals("config key 'layers' must be an integer, got '2.5'",
        assertThrows(ConfigException.class, () -> ConfigLoader.load(f, List.of())).getMessage());
    assertEquals("beta2 must be in [0, 1), got 1.0",
        assertThrows(ConfigException.class, () -> ConfigLoader.load(null, List.of("beta2=1"))).getMessage());
    assertEquals("beta1 must be in [0, 1), got -0.1",
        assertThrows(ConfigException.class, () -> ConfigLoader.load(null, List.of("beta1=-0.1"))).getMessage());
  }

  @Test
  void aKeyTwiceInAFileIsAnError() throws Exception {
    Path f = dir.resolve("twice.yaml");
    Files.writeString(f, "steps: 5\nwidth: 32\nsteps: 6\n");
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(f, List.of()));
    assertEquals("config file " + f + " sets the key 'steps' twice (line 3); keep one of them", e.getMessage());
  }

  @Test
  void typedValuesAreNotReadAsYaml() {
    String odd = "/data/a#b: c, [d].txt";
    RunSpec s = ConfigLoader.load(null, List.of(new ConfigLoader.ConfigValue("data", odd),
        new ConfigLoader.ConfigValue("steps", 7)), List.of("seed=3"));
    assertEquals(odd, s.data().file());
    assertEquals(7, s.schedule().steps());
    assertEquals(3, s.schedule().seed());
    assertEquals(odd, ConfigLoader.fromYaml(ConfigLoader.toYaml(s)).data().file());
    // --set is applied after the typed values, as before
    assertEquals(9, ConfigLoader.load(null, List.of(new ConfigLoader.ConfigValue("steps", 7)), List.of("steps=9"))
        .schedule().steps());
  }

  @Test
  void aMixerFlagKeepsItsOwnOptionsOnly() {
    RunSpec base = ConfigLoader.load(null, ConfigLoader.ConfigValue.mixer("aft-local", false),
        List.of("token-mixer-options.window=4"));
    assertEquals(Map.of("window", 4), base.model().tokenMixer().options());
    RunSpec other = ConfigLoader.load(null, ConfigLoader.ConfigValue.mixer("mlgru", false), List.of());
    assertEquals(Map.of(), other.model().tokenMixer().options());
  }

  @Test
  void resumeComparesTheModelAndDataNotTheKeys() {
    RunSpec a = ConfigLoader.load(null, List.of("layers=2", "token-mixer=attention", "token-mixer-options={heads: 2}",
        "dropout=0.1", "steps=10"));
    RunSpec sameModel = ConfigLoader.load(null, List.of("layers=2", "token-mixers=[{name: attention, options: {heads: 2}},"
        + " {name: attention, options: {heads: 2}}]", "steps=20"));
    assertEquals(List.of(), ConfigLoader.modelDifferences(a, sameModel));
    RunSpec wider = ConfigLoader.load(null, List.of("layers=2", "token-mixer=attention", "token-mixer-options={heads: 2}",
        "width=64", "data=x.txt"));
    assertEquals(List.of("data: checkpoint null, requested \"x.txt\"", "width: checkpoint 128, requested 64"),
        ConfigLoader.modelDifferences(a, wider));
  }
}
