package dev.leviathan.trainer;

import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.model.ModelConfigException;
import dev.leviathan.core.model.NormKind;
import dev.leviathan.core.model.ResolvedLayer;
import dev.leviathan.core.registry.MixerRegistry;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The model part of a run: shape and mixers, without the vocabulary (which the corpus decides).
 *
 * @param tokenMixer the token mixer of every layer ({@code token-mixer} with {@code token-mixer-options})
 * @param tokenMixers one token mixer per layer ({@code token-mixers}); empty = {@code tokenMixer} everywhere
 * @param channelMixer the channel mixer of every layer ({@code channel-mixer}, {@code channel-mixer-options})
 */
public record ModelSpec(int context, int width, int layers, MixerSpec tokenMixer, List<MixerSpec> tokenMixers,
    MixerSpec channelMixer, NormKind norm, boolean positionEmbedding, boolean tieEmbeddings, double dropout) {

  public ModelSpec {
    Ranges.positive("context", context);
    Ranges.positive("width", width);
    Ranges.positive("layers", layers);
    tokenMixers = List.copyOf(tokenMixers);
    if (!(dropout >= 0 && dropout < 1)) {
      throw new ConfigException("dropout must be in [0, 1), got " + dropout);
    }
    if (tokenMixers.size() > 1 && tokenMixers.size() != layers) {
      throw new ConfigException("token-mixers lists " + tokenMixers.size() + " mixers but the model has " + layers
          + " layers: give one mixer for all layers or exactly one per layer");
    }
  }

  /** This model with {@code name} as every layer's token mixer; options are kept only if it is the same mixer. */
  public ModelSpec withTokenMixer(String name) {
    MixerSpec mixer = name.equals(tokenMixer.name()) ? tokenMixer : MixerSpec.of(name);
    return new ModelSpec(context, width, layers, mixer, List.of(), channelMixer, norm, positionEmbedding,
        tieEmbeddings, dropout);
  }

  /** The token mixer of each layer. */
  public List<MixerSpec> layerTokenMixers() {
    if (tokenMixers.isEmpty()) {
      return Collections.nCopies(layers, tokenMixer);
    }
    return tokenMixers.size() == 1 ? Collections.nCopies(layers, tokenMixers.get(0)) : tokenMixers;
  }

  /** Distinct token mixer names, joined with '+', for messages and run directory names. */
  public String mixerLabel() {
    return String.join("+", layerTokenMixers().stream().map(MixerSpec::name).distinct().toList());
  }

  /** Each layer's providers and resolved options. */
  public List<ResolvedLayer> resolve(MixerRegistry registry) {
    return ResolvedLayer.resolve(layerTokenMixers(), Collections.nCopies(layers, channelMixer), registry);
  }

  /** The model for a corpus with {@code vocabSize} tokens. */
  public ModelConfig modelConfig(int vocabSize) {
    try {
      return ModelConfig.builder()
          .vocabSize(vocabSize)
          .context(context)
          .width(width)
          .layers(layers)
          .tokenMixers(layerTokenMixers())
          .channelMixer(channelMixer)
          .norm(norm)
          .positionEmbedding(positionEmbedding)
          .tieEmbeddings(tieEmbeddings)
          .dropout(dropout)
          .build();
    } catch (ModelConfigException e) {
      throw new ConfigException(e.getMessage());
    }
  }

  /** What the trained weights depend on, by config key: everything but the dropout rate. */
  Map<String, Object> architecture() {
    Map<String, Object> m = new java.util.LinkedHashMap<>();
    m.put("context", context);
    m.put("width", width);
    m.put("layers", layers);
    m.put("token-mixers", layerTokenMixers());
    m.put("channel-mixer", channelMixer);
    m.put("norm", norm.configName());
    m.put("position-embedding", positionEmbedding);
    m.put("tie-embeddings", tieEmbeddings);
    return m;
  }
}
