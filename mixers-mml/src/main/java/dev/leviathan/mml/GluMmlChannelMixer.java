package dev.leviathan.mml;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.ChannelMixer;
import dev.leviathan.core.spi.ChannelMixerProvider;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import java.util.List;
import org.tensorflow.op.Ops;

/**
 * {@code glu-mml}: the matmul-less gated channel mixer (MLGLU, Zhu et al. 2024), a SwiGLU whose three
 * projections are {@link BitLinear} layers ({@code BL}, each with its own RMSNorm):
 *
 * <pre>
 *   g = BL_g(x),  u = BL_u(x)                    [B, T, hidden]
 *   y = BL_d(silu(g) ⊙ u)                        [B, T, C]
 * </pre>
 *
 * Hidden width {@code 256 * ceil((8/3) C / 256)} unless {@code hidden} is given; {@code quantize = off}
 * makes every BitLinear full precision (the ablation).
 */
public final class GluMmlChannelMixer implements ChannelMixerProvider, TernaryExport {
  @Override
  public String name() {
    return "glu-mml";
  }

  @Override
  public String description() {
    return "matmul-less GLU (MLGLU): SwiGLU with ternary BitLinear projections";
  }

  @Override
  public int spiVersion() {
    return LeviathanSpi.VERSION;
  }

  @Override
  public List<OptionSpec> options() {
    return List.of(
        OptionSpec.integer("hidden", 0, 0, "hidden width; 0 = 256*ceil((8/3)C/256)"),
        OptionSpec.bool("quantize", true, "ternary weights and 8-bit activations; off = full-precision ablation"));
  }

  /** The default hidden width for model width {@code c}. */
  public static int defaultHidden(int c) {
    return 256 * (int) Math.ceil((8.0 / 3.0) * c / 256.0);
  }

  @Override
  public ChannelMixer create(LayerContext layer, MixerOptions options) {
    Ops tf = layer.tf();
    int c = layer.width();
    int hidden = options.getInt("hidden") == 0 ? defaultHidden(c) : options.getInt("hidden");
    boolean quantize = options.getBool("quantize");
    BitLinear gate = new BitLinear(tf, layer.params(), "gate", c, hidden, quantize, false);
    BitLinear up = new BitLinear(tf, layer.params(), "up", c, hidden, quantize, false);
    BitLinear down = new BitLinear(tf, layer.params(), "down", hidden, c, quantize, true);
    return x -> down.apply(tf.math.mul(Layers.silu(tf, gate.apply(x)), up.apply(x)));
  }
}
