package dev.leviathan.app;

import dev.leviathan.trainer.ConfigLoader;
import dev.leviathan.trainer.ConfigLoader.ConfigValue;
import dev.leviathan.trainer.RunSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The run spec of train and compare: a base YAML, the command's own flags as typed values, and
 * {@code --set} overrides (applied last), through the one {@link ConfigLoader}.
 */
public final class RunConfigs {
  private RunConfigs() {}

  /**
   * @param base YAML file or null for the defaults
   * @param mixer {@code --mixer}, or null; the base config's token-mixer options are dropped when it names
   *     another mixer (they belong to the base config's own mixer)
   */
  public static RunSpec resolve(Path base, String mixer, Path data, Integer steps, Long seed,
      boolean allowNoncausal, List<String> sets, Path workingDir) {
    List<ConfigValue> values = new ArrayList<>();
    if (mixer != null) {
      values.addAll(ConfigValue.mixer(mixer, mixer.equals(ConfigLoader.tokenMixerOf(base))));
    }
    if (data != null) {
      values.add(new ConfigValue("data", workingDir.resolve(data).normalize().toString()));
    }
    if (steps != null) {
      values.add(new ConfigValue("steps", steps));
    }
    if (seed != null) {
      values.add(new ConfigValue("seed", seed));
    }
    if (allowNoncausal) {
      values.add(new ConfigValue("allow-noncausal", true));
    }
    return ConfigLoader.load(base, values, sets);
  }
}
