package dev.leviathan.core.channel;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.ops.NativeLayers;
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
 * {@code mlp}: GPT-2's position-wise feed-forward network, {@code y = gelu(x W_1 + b_1) W_2 + b_2}
 * with hidden width {@code expansion * C} (4C by default). The bias and GELU run as one fused kernel
 * ({@link NativeLayers}) where it is loaded and the graph need not be portable.
 */
public final class MlpChannelMixer implements ChannelMixerProvider {
  @Override
  public String name() {
    return "mlp";
  }

  @Override
  public String description() {
    return "GELU feed-forward network, hidden width 4C (GPT-2)";
  }

  @Override
  public int spiVersion() {
    return LeviathanSpi.VERSION;
  }

  @Override
  public List<OptionSpec> options() {
    return List.of(
        OptionSpec.integer("expansion", 4, 1, "hidden width as a multiple of the model width"),
        OptionSpec.bool("bias", true, "add biases to both projections"));
  }

  @Override
  public ChannelMixer create(LayerContext layer, MixerOptions options) {
    Ops tf = layer.tf();
    int c = layer.width();
    int hidden = options.getInt("expansion") * c;
    boolean bias = options.getBool("bias");
    var w1 = layer.params().matrix("w1", c, hidden);
    var b1 = bias ? layer.params().bias("b1", hidden) : null;
    var w2 = layer.params().outputMatrix("w2", hidden, c);
    var b2 = bias ? layer.params().bias("b2", c) : null;
    // the bias and GELU as one fused kernel (and one for their gradient) where it is loaded
    boolean fused = !layer.portable() && NativeLayers.loaded();
    // on the 2-D [B*T, C] rows throughout: one reshape in and one out instead of one pair per projection
    return x -> {
      Operand<TFloat32> rows = tf.reshape(x, tf.constant(new int[] {-1, c}));
      Operand<TFloat32> h = fused
          ? NativeLayers.biasGelu(tf, tf.linalg.matMul(rows, w1), b1)
          : Layers.gelu(tf, Layers.linear(tf, rows, w1, b1));
      Operand<TFloat32> y = Layers.linear(tf, h, w2, b2);
      return tf.reshape(y, tf.shape(x));
    };
  }
}
