package dev.leviathan.core.model;

import dev.leviathan.core.registry.MixerRegistry;
import java.util.List;

/** A model's shape and, per block, the mixers that build it: everything {@link LanguageModel} needs. */
public record ResolvedModel(ModelConfig config, List<ResolvedLayer> layers) {
  public ResolvedModel {
    layers = List.copyOf(layers);
    if (layers.size() != config.layers()) {
      throw new ModelConfigException("the model has " + config.layers() + " layers but " + layers.size()
          + " resolved mixer layers were given");
    }
  }

  /** Resolves the mixers that {@code config} names. */
  public static ResolvedModel resolve(ModelConfig config, MixerRegistry registry) {
    return new ResolvedModel(config, ResolvedLayer.resolve(config.tokenMixers(), config.channelMixers(), registry));
  }

  /** Whether every mixer in the stack is causal. */
  public boolean causal() {
    return layers.stream().allMatch(ResolvedLayer::causal);
  }
}
