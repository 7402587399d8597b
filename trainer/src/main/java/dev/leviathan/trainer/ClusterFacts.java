package dev.leviathan.trainer;

import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.registry.ProviderInfo;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * What must be equal on every worker of a data-parallel run, checked at start-up by
 * {@link dev.leviathan.trainer.cluster.StartupHandshake}: the Leviathan version, the resolved config,
 * the mixer stack with its options and provider versions, every installed mixer provider with its
 * version and origin, and the step the run starts from (0 or the checkpoint's).
 */
final class ClusterFacts {
  private ClusterFacts() {}

  static Map<String, String> of(ResolvedRun resolved, MixerRegistry registry, long startStep) {
    Map<String, String> facts = new LinkedHashMap<>();
    facts.put("Leviathan version", Versions.leviathan());
    facts.put("config", ConfigLoader.toYaml(resolved.spec()));
    facts.put("mixer stack", resolved.layers().stream()
        .map(l -> l.tokenMixer().name() + "@" + l.tokenMixer().provider().version() + " " + l.tokenOptions()
            + " / " + l.channelMixer().name() + "@" + l.channelMixer().provider().version())
        .collect(Collectors.joining("; ")));
    facts.put("plugin versions", Stream.concat(registry.tokenMixers().stream(), registry.channelMixers().stream())
        .map(ClusterFacts::provider).sorted().collect(Collectors.joining("; ")));
    facts.put("starting step (fresh run or --resume)", Long.toString(startStep));
    return facts;
  }

  private static String provider(ProviderInfo p) {
    return p.kind() + " " + p.name() + "@" + p.provider().version();
  }
}
