package dev.leviathan.app;

import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.trainer.ConfigLoader;
import dev.leviathan.trainer.TrainConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Resolves the config of a training run from a base YAML, the command's own flags and {@code --set}
 * overrides (applied last), and checks its mixers before anything is written. Shared by train and compare.
 */
public final class RunConfigs {
  private RunConfigs() {}

  /**
   * @param base YAML file or null for the defaults
   * @param mixer {@code --mixer}, or null; the base config's token-mixer options are dropped when it names
   *     another mixer (they belong to the base config's own mixer)
   */
  public static TrainConfig resolve(Path base, String mixer, Path data, Integer steps, Long seed,
      boolean allowNoncausal, List<String> sets, Path workingDir) {
    List<String> overrides = new ArrayList<>();
    if (mixer != null) {
      overrides.add("token-mixer=" + mixer);
      overrides.add("token-mixers=[]");
      if (!mixer.equals(ConfigLoader.load(base, List.of()).tokenMixer)) {
        overrides.add("token-mixer-options={}");
      }
    }
    if (data != null) {
      overrides.add("data=" + workingDir.resolve(data).normalize());
    }
    if (steps != null) {
      overrides.add("steps=" + steps);
    }
    if (seed != null) {
      overrides.add("seed=" + seed);
    }
    if (allowNoncausal) {
      overrides.add("allow-noncausal=true");
    }
    overrides.addAll(sets);
    return ConfigLoader.load(base, overrides);
  }

  /** Unknown mixer names and invalid mixer options fail here, before a run directory exists. */
  public static void checkMixers(MixerRegistry registry, TrainConfig cfg) {
    for (MixerSpec s : cfg.tokenMixerSpecs()) {
      MixerOptions.resolve(registry.tokenMixer(s.name()), s.options());
    }
    MixerOptions.resolve(registry.channelMixer(cfg.channelMixer), cfg.channelMixerOptions);
  }
}
