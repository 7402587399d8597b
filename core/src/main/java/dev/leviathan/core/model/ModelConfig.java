package dev.leviathan.core.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Shape and parts of a MetaFormer language model. A plain value: build it with {@link #builder()};
 * {@link Builder#build()} validates every field and explains what is wrong.
 *
 * <p>{@code tokenMixers} and {@code channelMixers} hold one entry per layer; a single entry given to the
 * builder is used for every layer (hybrid stacks list one per layer).
 */
public record ModelConfig(
    int vocabSize,
    int context,
    int width,
    int layers,
    List<MixerSpec> tokenMixers,
    List<MixerSpec> channelMixers,
    NormKind norm,
    boolean positionEmbedding,
    boolean tieEmbeddings,
    double dropout) {

  public ModelConfig {
    tokenMixers = List.copyOf(tokenMixers);
    channelMixers = List.copyOf(channelMixers);
  }

  public static Builder builder() {
    return new Builder();
  }

  public Builder toBuilder() {
    return new Builder()
        .vocabSize(vocabSize)
        .context(context)
        .width(width)
        .layers(layers)
        .tokenMixers(tokenMixers)
        .channelMixers(channelMixers)
        .norm(norm)
        .positionEmbedding(positionEmbedding)
        .tieEmbeddings(tieEmbeddings)
        .dropout(dropout);
  }

  /** Builder with the defaults of the small tiny-Shakespeare model. */
  public static final class Builder {
    private int vocabSize = 65;
    private int context = 64;
    private int width = 128;
    private int layers = 4;
    private List<MixerSpec> tokenMixers = List.of(MixerSpec.of("attention"));
    private List<MixerSpec> channelMixers = List.of(MixerSpec.of("mlp"));
    private NormKind norm = NormKind.LAYERNORM;
    private boolean positionEmbedding = true;
    private boolean tieEmbeddings = true;
    private double dropout = 0.0;

    public Builder vocabSize(int v) {
      this.vocabSize = v;
      return this;
    }

    public Builder context(int v) {
      this.context = v;
      return this;
    }

    public Builder width(int v) {
      this.width = v;
      return this;
    }

    public Builder layers(int v) {
      this.layers = v;
      return this;
    }

    public Builder tokenMixer(MixerSpec spec) {
      return tokenMixers(List.of(spec));
    }

    public Builder tokenMixers(List<MixerSpec> specs) {
      this.tokenMixers = new ArrayList<>(specs);
      return this;
    }

    public Builder channelMixer(MixerSpec spec) {
      return channelMixers(List.of(spec));
    }

    public Builder channelMixers(List<MixerSpec> specs) {
      this.channelMixers = new ArrayList<>(specs);
      return this;
    }

    public Builder norm(NormKind v) {
      this.norm = v;
      return this;
    }

    public Builder positionEmbedding(boolean v) {
      this.positionEmbedding = v;
      return this;
    }

    public Builder tieEmbeddings(boolean v) {
      this.tieEmbeddings = v;
      return this;
    }

    public Builder dropout(double v) {
      this.dropout = v;
      return this;
    }

    /** Validates and builds; a single mixer entry is repeated for every layer. */
    public ModelConfig build() {
      positive("vocab-size", vocabSize, 2);
      positive("context", context, 1);
      positive("width", width, 1);
      positive("layers", layers, 1);
      if (!(dropout >= 0 && dropout < 1)) {
        throw new ModelConfigException("dropout must be in [0, 1), got " + dropout);
      }
      if (norm == null) {
        throw new ModelConfigException("norm must be layernorm or rmsnorm");
      }
      return new ModelConfig(
          vocabSize, context, width, layers,
          perLayer("token-mixers", tokenMixers), perLayer("channel-mixers", channelMixers),
          norm, positionEmbedding, tieEmbeddings, dropout);
    }

    private List<MixerSpec> perLayer(String key, List<MixerSpec> specs) {
      if (specs == null || specs.isEmpty()) {
        throw new ModelConfigException(key + " must name at least one mixer");
      }
      if (specs.size() == 1) {
        return Collections.nCopies(layers, specs.get(0));
      }
      if (specs.size() != layers) {
        throw new ModelConfigException(
            key + " lists " + specs.size() + " mixers but the model has " + layers
                + " layers: give one mixer for all layers or exactly one per layer");
      }
      return specs;
    }

    private static void positive(String key, int value, int min) {
      if (value < min) {
        throw new ModelConfigException(key + " must be >= " + min + ", got " + value);
      }
    }
  }
}
