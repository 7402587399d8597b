package dev.leviathan.core.ops;

import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The fused CPU kernels of the model's shared layers ({@code core/src/main/c/leviathan_core.c}, loaded
 * through {@link NativeKernels}): LayerNorm, the MLP's bias + GELU and a sigmoid gate, forward and gradient
 * one op each, for what {@link Layers#layerNorm}, {@link Layers#gelu} and {@code sigmoid(q) * r} build from
 * about 30, 15 and 6 graph nodes (counting their gradients).
 *
 * <p>Used where {@link #loaded()} and the graph need not be portable
 * ({@link dev.leviathan.core.spi.LayerContext#portable()}); elsewhere the model builds the graph forms,
 * which compute the same (tested to float rounding).
 */
public final class NativeLayers {
  static final String LAYER_NORM = "LeviathanLayerNorm";
  static final String LAYER_NORM_GRAD = "LeviathanLayerNormGrad";
  static final String BIAS_GELU = "LeviathanBiasGelu";
  static final String BIAS_GELU_GRAD = "LeviathanBiasGeluGrad";
  static final String SIGMOID_GATE = "LeviathanSigmoidGate";
  static final String SIGMOID_GATE_GRAD = "LeviathanSigmoidGateGrad";
  static final String RESOURCE = "/dev/leviathan/core/native/linux-x86_64/libleviathan-core.so";

  private static final NativeKernels.Availability AVAILABILITY =
      NativeKernels.load(NativeLayers.class, RESOURCE,
          Map.of(LAYER_NORM, LAYER_NORM_GRAD, BIAS_GELU, BIAS_GELU_GRAD, SIGMOID_GATE, SIGMOID_GATE_GRAD));

  private static final String NOT_LOADED = "the native layer kernels are not loaded";

  private NativeLayers() {}

  /** Whether the kernels are loaded, and if not, why. */
  public static NativeKernels.Availability availability() {
    return AVAILABILITY;
  }

  /** Whether the kernels are loaded into TensorFlow in this process. */
  public static boolean loaded() {
    return AVAILABILITY.loaded();
  }

  /**
   * LayerNorm over the last axis, as {@link Layers#layerNorm} ({@code bias} may be null): one kernel
   * forward, one for the gradient.
   */
  public static Operand<TFloat32> layerNorm(
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> gain, Operand<TFloat32> bias, float eps) {
    AVAILABILITY.require(NOT_LOADED);
    Operand<TFloat32> b = bias != null ? bias : tf.zerosLike(gain);
    // the output has x's static shape, as the graph form's has
    return NativeKernels.builder(tf, LAYER_NORM, "LayerNorm", x, gain, b).setAttr("eps", eps).build().output(0);
  }

  /**
   * {@code gelu(x + b)} (exact GELU, as {@link Layers#gelu}) over the last axis of {@code x}; {@code b} may
   * be null (no bias).
   */
  public static Operand<TFloat32> biasGelu(Ops tf, Operand<TFloat32> x, Operand<TFloat32> b) {
    AVAILABILITY.require(NOT_LOADED);
    Operand<TFloat32> bias = b != null ? b : tf.constant(new float[(int) x.shape().size(-1)]);
    // the output has x's static shape, as the graph form's has
    return NativeKernels.builder(tf, BIAS_GELU, "BiasGelu", x, bias).build().output(0);
  }

  /** {@code sigmoid(q) ⊙ r} ({@code q} and {@code r} of one shape), as a gated read-out computes it. */
  public static Operand<TFloat32> sigmoidGate(Ops tf, Operand<TFloat32> q, Operand<TFloat32> r) {
    AVAILABILITY.require(NOT_LOADED);
    // the output has q's static shape, as the graph form's has
    return NativeKernels.builder(tf, SIGMOID_GATE, "SigmoidGate", q, r).build().output(0);
  }
}
