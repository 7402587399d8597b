package dev.leviathan.examples.causalconv;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.Initializer;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Squeeze;
import org.tensorflow.types.TFloat32;

/**
 * {@code causal-conv}: a causal depth-wise 1-D convolution over time, then a pointwise output
 * projection (the short convolution of H3, Hyena and Mamba, here as a whole token mixer).
 *
 * <pre>
 *   u_t[c] = b_conv[c] + sum_{j=0..K-1} w[j, c] x_{t-j}[c]        x_s = 0 for s &lt; 0
 *   y_t    = act(u_t) W_o + b_o                                  act = silu (default) or identity
 * </pre>
 *
 * Each channel has its own filter of K = {@code kernel} taps; tap j weights the token j positions
 * back, so position t sees tokens t-K+1 .. t and nothing after t. Cost O(T C K + T C^2) time,
 * O(T C) memory; no attention matrix.
 *
 * <p>Parameters: {@code w_conv [K, C]} (uniform on ±1/sqrt(K), the fan-in of one depth-wise filter;
 * decayed), {@code b_conv [C]}, {@code w_o [C, C]} (GPT-2 output projection), {@code b_o [C]}; the
 * biases only with {@code bias=on}.
 */
public final class CausalConvMixer implements TokenMixerProvider {
  @Override
  public String name() {
    return "causal-conv";
  }

  @Override
  public String description() {
    return "causal depth-wise 1-D convolution over time with a pointwise output projection";
  }

  @Override
  public int spiVersion() {
    return LeviathanSpi.VERSION;
  }

  @Override
  public boolean causal() {
    return true;
  }

  @Override
  public List<OptionSpec> options() {
    return List.of(
        OptionSpec.integer("kernel", 4, 1, "taps per channel: how many positions (this one included) each"
            + " output sees; at most the context length"),
        OptionSpec.choice("activation", "silu", List.of("silu", "none"),
            "activation between the convolution and the output projection"),
        OptionSpec.bool("bias", true, "add biases to the convolution and the output projection"));
  }

  @Override
  public TokenMixer create(LayerContext layer, MixerOptions options) {
    int c = layer.width();
    int kernel = options.getInt("kernel");
    options.require(kernel <= layer.context(), "kernel", "be at most the context length " + layer.context());
    boolean silu = options.getString("activation").equals("silu");
    boolean bias = options.getBool("bias");
    Ops tf = layer.tf();
    double bound = 1.0 / Math.sqrt(kernel);
    Operand<TFloat32> w = layer.params().create(
        "w_conv", new long[] {kernel, c}, Initializer.uniform(-bound, bound), true);
    Operand<TFloat32> bConv = bias ? layer.params().bias("b_conv", c) : null;
    Operand<TFloat32> wo = layer.params().outputMatrix("w_o", c, c);
    Operand<TFloat32> bo = bias ? layer.params().bias("b_o", c) : null;
    return x -> {
      // Left-pad K-1 zeros in time; the VALID convolution then reads x_{t-K+1} .. x_t for output t.
      Operand<TFloat32> padded = tf.pad(x, tf.constant(new int[][] {{0, 0}, {kernel - 1, 0}, {0, 0}}),
          tf.constant(0f));
      // Convolution tap k multiplies x_{t-(K-1-k)}: the lag-indexed filter reversed in time.
      Operand<TFloat32> filter = tf.reshape(tf.reverse(w, tf.constant(new int[] {0})),
          tf.constant(new long[] {1, kernel, c, 1}));
      Operand<TFloat32> conv = tf.nn.depthwiseConv2dNative(
          tf.expandDims(padded, tf.constant(1)), filter, List.of(1L, 1L, 1L, 1L), "VALID");
      Operand<TFloat32> u = tf.squeeze(conv, Squeeze.axis(1L));
      if (bConv != null) {
        u = tf.math.add(u, bConv);
      }
      if (silu) {
        u = Layers.silu(tf, u);
      }
      return Layers.linear(tf, u, wo, bo);
    };
  }
}
