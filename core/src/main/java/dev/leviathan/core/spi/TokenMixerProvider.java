package dev.leviathan.core.spi;

/** Service interface for token mixers: the part of a MetaFormer block that mixes across positions. */
public interface TokenMixerProvider extends MixerProvider {
  /**
   * Builds the mixer for one layer: creates its parameters through {@link LayerContext#params()} and
   * returns the function {@code [B, T, C] -> [B, T, C]}.
   *
   * @throws InvalidMixerOptionException when an option value is not acceptable for this layer
   */
  TokenMixer create(LayerContext layer, MixerOptions options);
}
