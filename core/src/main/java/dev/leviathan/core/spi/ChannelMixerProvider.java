package dev.leviathan.core.spi;

/** Service interface for channel mixers: the per-position part of a MetaFormer block. */
public interface ChannelMixerProvider extends MixerProvider {
  /** Channel mixers act on each position independently, so they are causal. */
  @Override
  default boolean causal() {
    return true;
  }

  /** Builds the channel mixer of one layer. */
  ChannelMixer create(LayerContext layer, MixerOptions options);
}
