package dev.leviathan.aft;

import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * {@code aft-simple}: causal AFT-simple (Zhai et al. 2021, arXiv 2105.14103), the Attention Free
 * Transformer without position bias ({@code w = 0}).
 *
 * <pre>
 *   q, k, v = x W_q, x W_k, x W_v                         [B, T, C] each (one fused C -> 3C matrix, no bias)
 *   y_t     = sigmoid(q_t) ⊙ sum_{t' <= t} exp(k_t') ⊙ v_t' / sum_{t' <= t} exp(k_t')      per channel
 *           = sigmoid(q_t) ⊙ cumsum_t(exp(k) ⊙ v) / cumsum_t(exp(k))
 *   out     = y W_o                                       output projection into the residual stream
 * </pre>
 *
 * The output projection {@code W_o} (like attention's) is this project's choice; the paper's equation
 * ends at {@code y}. {@code exp(k)} is computed as {@code exp(k) 2^-N} with a detached per-channel
 * power-of-two shift that cancels bit-exactly in the ratio (see {@link AftOps}). Cost O(T C) time and
 * memory per sequence.
 */
public final class AftSimpleMixer implements TokenMixerProvider {
  @Override
  public String name() {
    return "aft-simple";
  }

  @Override
  public String description() {
    return "causal AFT-simple: sigmoid(q) gated running softmax of the values over time, O(T C)";
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
    return List.of();
  }

  @Override
  public TokenMixer create(LayerContext layer, MixerOptions options) {
    int c = layer.width();
    Ops tf = layer.tf();
    var wqkv = layer.params().matrix("w_qkv", c, 3L * c);
    var wo = layer.params().outputMatrix("w_o", c, c);
    return x -> {
      List<Operand<TFloat32>> qkv = AftOps.qkv(tf, x, wqkv, c, c, c);
      Operand<TFloat32> e = AftOps.scaledExp(tf, qkv.get(1));
      Operand<TFloat32> sums = tf.math.cumsum(AftOps.terms(tf, e, qkv.get(2)), tf.constant(1));
      return AftOps.readout(tf, qkv.get(0), AftOps.ratio(tf, sums), wo);
    };
  }
}
