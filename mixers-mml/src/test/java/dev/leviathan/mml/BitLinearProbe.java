package dev.leviathan.mml;

import dev.leviathan.core.spi.ChannelMixer;
import dev.leviathan.core.spi.ChannelMixerProvider;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import java.util.List;

/**
 * Test-only provider that is one {@link BitLinear} named {@code p} ({@code [C] -> [C]}), so the
 * layer can be driven by {@code MixerHarness}. Not registered as a service.
 */
final class BitLinearProbe implements ChannelMixerProvider {
  @Override
  public String name() {
    return "bitlinear-probe";
  }

  @Override
  public String description() {
    return "one BitLinear layer (tests only)";
  }

  @Override
  public int spiVersion() {
    return LeviathanSpi.VERSION;
  }

  @Override
  public List<OptionSpec> options() {
    return List.of(
        OptionSpec.bool("quantize", true, "quantise"));
  }

  @Override
  public ChannelMixer create(LayerContext layer, MixerOptions options) {
    int c = layer.width();
    BitLinear bl = new BitLinear(layer.tf(), layer.params(), "p", c, c, options.getBool("quantize"), false);
    return bl::apply;
  }
}
