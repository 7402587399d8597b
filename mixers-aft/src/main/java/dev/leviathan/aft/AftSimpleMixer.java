package dev.leviathan.aft;

import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import dev.leviathan.core.ops.Layers;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * {@code aft-simple}: causal AFT-simple (Zhai et al. 2021, arXiv 2105.14103), the Attention Free
 * Transformer without position bias ({@code w = 0}).
 *
 * <pre>
 *   q, k, v = x W_q, x W_k, x W_v                         [B, T, C] each (one fused C -> 3C matrix, no bias)
 *   y_t     = sigmoid(q_t) ⊙ sum_{t' <= t} exp(k_t') ⊙ v_t' / sum_{t' <= t} exp(k_t')      per channel
 *   out     = y W_o                                       output projection into the residual stream
 * </pre>
 *
 * The output projection {@code W_o} (like attention's) is this project's choice; the paper's equation
 * ends at {@code y}. Numerator and denominator are computed as {@code sum_{t' <= t} exp(k_t' - m_t) ...}
 * with the causal running maximum {@code m_t = max_{t' <= t} k_t'} (see {@link AftOps}), by a
 * Hillis-Steele scan of their recurrence ({@link AftOps#prefixScan}, channels last): O(T C log T) time,
 * any finite keys. Generation carries the two
 * sums and {@code m} per channel ({@code [B, 2, C]} and {@code [B, 1, C]}, constant size):
 * {@code m' = max(m, k_t)}, {@code S' = exp(m - m') S + exp(k_t - m') [v_t; 1]}. Where the fused AFT
 * kernels are loaded ({@link NativeAft}; not in a portable graph) the parallel pass is that recurrence as
 * one op, O(T C), and its gradient one more.
 */
public final class AftSimpleMixer implements TokenMixerProvider {
  private final boolean graphOnly;

  /** The provider found by the registry: the fused scan where it is loaded. */
  public AftSimpleMixer() {
    this(false);
  }

  /** A provider that always builds the graph form when {@code graphOnly} (tests compare the two). */
  AftSimpleMixer(boolean graphOnly) {
    this.graphOnly = graphOnly;
  }

  @Override
  public String name() {
    return "aft-simple";
  }

  @Override
  public String description() {
    return "causal AFT-simple: sigmoid(q) gated running softmax of the values over time, O(T C log T)";
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
    boolean fused = !graphOnly && !layer.portable() && NativeAft.loaded();
    return new AftOps.ParallelAndStep() {
      @Override
      Step run(Operand<TFloat32> x, boolean withState) {
        if (fused && !withState) {
          Operand<TFloat32> gated = NativeAft.gatedScanRatio(tf, Layers.linear(tf, x, wqkv, null), c);
          return new Step(Layers.linear(tf, gated, wo, null), List.of());
        }
        List<Operand<TFloat32>> qkv = AftOps.qkv(tf, x, wqkv, c, c, c);
        AftOps.Prefix prefix = AftOps.prefixScan(tf, AftOps.splitLast(tf, qkv.get(1), 1, c),
            AftOps.splitLast(tf, qkv.get(2), 1, c), layer.context()); // [B, T, 2, C], [B, T, 1, C]
        Operand<TFloat32> y = readout(qkv.get(0), prefix.sums());
        if (!withState) {
          return new Step(y, List.of());
        }
        Operand<TInt32> t = Layers.dim(tf, x, 1);
        return new Step(y, List.of(AftOps.last(tf, prefix.sums(), t), AftOps.last(tf, prefix.m(), t)));
      }

      @Override
      public Step step(Operand<TFloat32> xt, Operand<TInt32> position, List<Operand<TFloat32>> state) {
        if (state.size() != 2) {
          throw new IllegalArgumentException("aft-simple carries two state tensors (sums, running maximum), got " + state.size());
        }
        List<Operand<TFloat32>> qkv = AftOps.qkv(tf, xt, wqkv, c, c, c);
        AftOps.Sums next = AftOps.prefixStep(
            tf, AftOps.splitLast(tf, qkv.get(1), 1, c), AftOps.splitLast(tf, qkv.get(2), 1, c), state);
        return new Step(readout(qkv.get(0), next.sums()), next.state());
      }

      /** Sums {@code [..., 2, C]} (numerator row, denominator row) read out through q and W_o. */
      private Operand<TFloat32> readout(Operand<TFloat32> q, Operand<TFloat32> sums) {
        return AftOps.readout(tf, q, tf.reshape(AftOps.ratio(tf, sums, 1, -2), Layers.withLastDim(tf, q, c)), wo);
      }
    };
  }
}
