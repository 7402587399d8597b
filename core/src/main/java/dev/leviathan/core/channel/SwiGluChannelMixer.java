package dev.leviathan.core.channel;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.ChannelMixer;
import dev.leviathan.core.spi.ChannelMixerProvider;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * {@code swiglu}: gated feed-forward network {@code y = (silu(x W_g) ⊙ x W_u) W_d}, hidden width
 * {@code 256 * ceil((8/3) C / 256)} unless {@code hidden} is given. No biases.
 */
public final class SwiGluChannelMixer implements ChannelMixerProvider {
  @Override
  public String name() {
    return "swiglu";
  }

  @Override
  public String description() {
    return "SwiGLU gated feed-forward network, hidden width 256*ceil(8C/3/256)";
  }

  @Override
  public int spiVersion() {
    return LeviathanSpi.VERSION;
  }

  @Override
  public List<OptionSpec> options() {
    return List.of(OptionSpec.integer("hidden", 0, 0, "hidden width; 0 = 256*ceil((8/3)C/256)"));
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
    var wg = layer.params().matrix("w_gate", c, hidden);
    var wu = layer.params().matrix("w_up", c, hidden);
    var wd = layer.params().outputMatrix("w_down", hidden, c);
    // on the 2-D [B*T, C] rows throughout: one reshape in and one out instead of one pair per projection
    return x -> {
      Operand<TFloat32> rows = tf.reshape(x, tf.constant(new int[] {-1, c}));
      Operand<TFloat32> y = Layers.linear(tf,
          tf.math.mul(Layers.silu(tf, Layers.linear(tf, rows, wg, null)), Layers.linear(tf, rows, wu, null)), wd, null);
      return tf.reshape(y, tf.shape(x));
    };
  }
}
