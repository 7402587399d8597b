package dev.leviathan.mml;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.Parameters;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Max;
import org.tensorflow.types.TFloat32;

/**
 * BitLinear: the layer every projection of the matmul-less family is made of (Zhu et al. 2024,
 * arXiv 2406.02528, following BitNet b1.58). For {@code x [..., in]} and a latent weight
 * {@code W [in, out]}:
 *
 * <pre>
 *   x_n = RMSNorm(x) ⊙ gain                                   learned gain, inside the layer
 *   s   = 127 / max(max_j |x_n[j]|, 1e-5)                      per token (8-bit absmax)
 *   x_q = clamp(round(x_n s), -128, 127) / s
 *   g   = max(mean |W|, 1e-5)                                  per tensor (ternary absmean)
 *   W_q = clamp(round(W / g), -1, 1) g                         values in {-g, 0, +g}
 *   x~  = x_n + stop_gradient(x_q - x_n)                       straight-through estimators
 *   W~  = W   + stop_gradient(W_q - W)
 *   y   = x~ W~                                                no bias
 * </pre>
 *
 * The forward pass sees the quantised values; the backward pass treats both quantisers as the
 * identity, so the gradient that reaches the latent {@code W} is exactly the gradient with respect to
 * {@code W~}, i.e. the gradient a plain linear layer holding the ternary weights would receive.
 * {@code round} is TensorFlow's Round (halves to even); it has no gradient, which the estimator
 * never needs. With {@code quantize = false} the layer is the full-precision ablation
 * {@code y = (RMSNorm(x) ⊙ gain) W}.
 *
 * <p>Parameters (created through {@link Parameters}): the weight {@code w_<name>} ({@code [in, out]},
 * GPT-2 initialisation; the depth-scaled one when the layer writes into the residual stream) and the
 * gain {@code norm_<name>} ({@code [in]}, ones). For export, {@link #quantizedWeight()} gives the graph
 * values the forward pass uses and {@link #ternarize(float[])} the same quantiser on the JVM.
 */
public final class BitLinear {
  /** Epsilon inside the RMSNorm: {@code x / sqrt(mean(x^2) + eps)}. */
  public static final float NORM_EPS = 1e-5f;
  /** Lower bound of the activation absmax and of the weight absmean. */
  public static final float QUANT_EPS = 1e-5f;
  /** Largest magnitude of an 8-bit activation code. */
  public static final float ACTIVATION_LEVELS = 127f;

  /** Graph form of the exported weight: {@code ternary} in {-1, 0, 1} ({@code [in, out]}) and the scalar {@code scale}. */
  public record QuantizedWeight(Operand<TFloat32> ternary, Operand<TFloat32> scale) {}

  /**
   * JVM form of the exported weight: {@code values[i] = t_i * scale} with {@code t_i} in {-1, 0, 1}
   * (the input of {@link TernaryPacking#pack(float[], float)}).
   */
  public record Ternary(float[] values, float scale) {}

  private final Ops tf;
  private final String name;
  private final int in;
  private final int out;
  private final boolean quantize;
  private final Operand<TFloat32> weight;
  private final Operand<TFloat32> gain;
  private final Operand<TFloat32> effectiveWeight;
  private final QuantizedWeight quantized;

  /**
   * Creates the layer's parameters and its weight quantiser.
   *
   * @param tf graph ops of the owning mixer
   * @param params parameter factory of the owning mixer
   * @param name short name; the parameters are {@code w_<name>} and {@code norm_<name>}
   * @param in input width
   * @param out output width
   * @param quantize {@code true}: ternary weights and 8-bit activations; {@code false}: full precision
   * @param residualOutput whether the output is added to the residual stream (GPT-2's scaled init)
   */
  public BitLinear(Ops tf, Parameters params, String name, int in, int out, boolean quantize, boolean residualOutput) {
    if (in < 1 || out < 1) {
      throw new IllegalArgumentException("BitLinear '" + name + "' needs positive widths, got " + in + " -> " + out);
    }
    this.tf = tf.withSubScope("bitlinear_" + name);
    this.name = name;
    this.in = in;
    this.out = out;
    this.quantize = quantize;
    this.weight = residualOutput
        ? params.outputMatrix("w_" + name, in, out)
        : params.matrix("w_" + name, in, out);
    this.gain = params.gain("norm_" + name, in);
    Ops q = this.tf;
    Operand<TFloat32> scale = q.math.maximum(
        q.math.mean(q.math.abs(weight), q.constant(new int[] {0, 1})), q.constant(QUANT_EPS));
    Operand<TFloat32> ternary = q.clipByValue(
        q.math.round(q.math.div(weight, scale)), q.constant(-1f), q.constant(1f));
    this.quantized = new QuantizedWeight(ternary, scale);
    this.effectiveWeight = quantize
        ? q.math.add(weight, q.stopGradient(q.math.sub(q.math.mul(ternary, scale), weight)))
        : weight;
  }

  /** {@code y = x~ W~}: {@code [..., in] -> [..., out]}. */
  public Operand<TFloat32> apply(Operand<TFloat32> x) {
    return Layers.linear(tf, quantizedInput(x), effectiveWeight, null);
  }

  /** {@code x_n = RMSNorm(x) ⊙ gain} over the last axis. */
  public Operand<TFloat32> normalize(Operand<TFloat32> x) {
    return Layers.rmsNorm(tf, x, gain, NORM_EPS);
  }

  /**
   * The layer's matmul input {@code x~}: the normalised {@code x} with straight-through 8-bit
   * absmax quantisation per token (just {@code x_n} when not quantising).
   */
  public Operand<TFloat32> quantizedInput(Operand<TFloat32> x) {
    return quantizeActivations(normalize(x));
  }

  /**
   * Straight-through 8-bit absmax quantisation of already normalised activations {@code x_n}, per
   * token (last axis): {@code x_n + stop_gradient(x_q - x_n)}; the identity when not quantising.
   */
  public Operand<TFloat32> quantizeActivations(Operand<TFloat32> xn) {
    if (!quantize) {
      return xn;
    }
    Operand<TFloat32> absmax = tf.max(tf.math.abs(xn), tf.constant(-1), Max.keepDims(true));
    Operand<TFloat32> s = tf.math.div(tf.constant(ACTIVATION_LEVELS), tf.math.maximum(absmax, tf.constant(QUANT_EPS)));
    Operand<TFloat32> xq = tf.math.div(
        tf.clipByValue(tf.math.round(tf.math.mul(xn, s)), tf.constant(-128f), tf.constant(ACTIVATION_LEVELS)), s);
    return tf.math.add(xn, tf.stopGradient(tf.math.sub(xq, xn)));
  }

  /** The weight the matmul uses: {@code W~} when quantising (value {@code W_q}, gradient to {@code W}), else {@code W}. */
  public Operand<TFloat32> effectiveWeight() {
    return effectiveWeight;
  }

  /**
   * The ternary weights {@code clamp(round(W / g), -1, 1)} and the scale {@code g} as the forward pass
   * computes them, for export. Defined for both settings of {@code quantize}; only a quantised layer
   * actually uses them.
   */
  public QuantizedWeight quantizedWeight() {
    return quantized;
  }

  /** The latent full-precision weight {@code w_<name>} ({@code [in, out]}). */
  public Operand<TFloat32> latentWeight() {
    return weight;
  }

  /** The RMSNorm gain {@code norm_<name>} ({@code [in]}). */
  public Operand<TFloat32> gain() {
    return gain;
  }

  public String name() {
    return name;
  }

  public int inputWidth() {
    return in;
  }

  public int outputWidth() {
    return out;
  }

  public boolean quantized() {
    return quantize;
  }

  /**
   * The ternary absmean quantiser on the JVM, for exporting latent weights read from a checkpoint:
   * {@code g = max(mean |W|, 1e-5)} (float32, the mean accumulated in double), {@code t = clamp(round(W / g), -1, 1)}
   * rounding halves to even, values {@code t g}. Agrees with {@link #quantizedWeight()} up to the last
   * bit of {@code g}, which depends on the summation order of the mean.
   */
  public static Ternary ternarize(float[] latent) {
    if (latent.length == 0) {
      throw new IllegalArgumentException("cannot ternarize an empty weight");
    }
    double sum = 0;
    for (float w : latent) {
      if (!Float.isFinite(w)) {
        throw new IllegalArgumentException("cannot ternarize a weight with non-finite value " + w);
      }
      sum += Math.abs(w);
    }
    float scale = Math.max((float) (sum / latent.length), QUANT_EPS);
    float[] values = new float[latent.length];
    for (int i = 0; i < latent.length; i++) {
      float t = (float) Math.max(-1.0, Math.min(1.0, Math.rint(latent[i] / scale)));
      values[i] = t == 0f ? 0f : t * scale;
    }
    return new Ternary(values, scale);
  }
}
