package dev.leviathan.aft;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.ops.NativeKernels;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The fused CPU kernels of the AFT sums ({@code src/main/c/leviathan_aft.c}, loaded through
 * {@link NativeKernels}), each one op and one for its gradient: {@value #OP} for what {@link DyadicMix}
 * builds from a few hundred graph nodes per layer. Its gated form {@value #GATED_OP}, and {@value #GATED_SCAN_OP}
 * for aft-simple's running sums ({@link AftOps#prefixScan}, in O(T C)), take the qkv projection's output as it
 * is and return {@code sigmoid(q) ⊙ num / den}: a training step has no split of q, k and v, no concatenation of
 * their gradients and no separate gate.
 *
 * <p>The library is compiled by the build when a C compiler is present (Linux x86-64) and shipped in
 * this module's jar; TensorFlow loads it the first time a mixer asks for it. Without it, or with
 * {@code LEVIATHAN_NATIVE_KERNELS=off}, every mixer builds the graph form, which gives the same sums
 * (tested). Portable graphs (a SavedModel export, a model on a GPU) never use it.
 */
final class NativeAft {
  static final String OP = "LeviathanAftMix";
  static final String GRAD_OP = "LeviathanAftMixGrad";
  static final String GATED_OP = "LeviathanAftMixGated";
  static final String GATED_GRAD_OP = "LeviathanAftMixGatedGrad";
  static final String GATED_SCAN_OP = "LeviathanAftScanGated";
  static final String GATED_SCAN_GRAD_OP = "LeviathanAftScanGatedGrad";
  static final String RESOURCE = "/dev/leviathan/aft/native/linux-x86_64/libleviathan-aft.so";

  /**
   * Largest context at which the mixers take the fused {@value #OP}: its work grows as T^2 C on one thread
   * per sequence, and past this the graph forms' matrix products are faster (measured in docs/results.md).
   * The scan is O(T C) and taken at every context.
   */
  static final int MIX_MAX_CONTEXT = 256;

  private static final NativeKernels.Availability AVAILABILITY =
      NativeKernels.load(NativeAft.class, RESOURCE, Map.of(OP, GRAD_OP, GATED_OP, GATED_GRAD_OP, GATED_SCAN_OP,
          GATED_SCAN_GRAD_OP));

  private NativeAft() {}

  static NativeKernels.Availability availability() {
    return AVAILABILITY;
  }

  static boolean loaded() {
    return AVAILABILITY.loaded();
  }

  /**
   * {@code num / den} of the AFT sums (see {@link DyadicMix}) of keys and values {@code [B, T, C]} with
   * the lower-triangular weights {@code e [N, N]} ({@code N >= T}, entries in {@code [0, 1]}), {@code [B, T, C]}.
   */
  static Operand<TFloat32> ratio(Ops tf, Operand<TFloat32> keys, Operand<TFloat32> values, Operand<TFloat32> e) {
    return fused(tf, OP, "AftMix", keys, values, e);
  }

  /**
   * {@code sigmoid(q) ⊙ num / den} of {@link #ratio} for {@code qkv [B, T, 3C]} (q, k and v side by side, as the
   * projection gives them), {@code [B, T, C]}.
   */
  static Operand<TFloat32> gatedRatio(Ops tf, Operand<TFloat32> qkv, Operand<TFloat32> e, int c) {
    return gated(tf, GATED_OP, "AftMixGated", c, qkv, e);
  }

  /**
   * {@code sigmoid(q) ⊙ num / den} of the running sums {@code sum_{t' <= t} exp(k_t' - m_t) [v_t'; 1]}
   * (aft-simple, every weight 1) for {@code qkv [B, T, 3C]}, {@code [B, T, C]}.
   */
  static Operand<TFloat32> gatedScanRatio(Ops tf, Operand<TFloat32> qkv, int c) {
    return gated(tf, GATED_SCAN_OP, "AftScanGated", c, qkv);
  }

  /** Output 0 of the gated op {@code type} of {@code inputs}, the first of them qkv {@code [B, T, 3C]}. */
  @SafeVarargs
  private static Operand<TFloat32> gated(Ops tf, String type, String name, int c, Operand<TFloat32>... inputs) {
    AVAILABILITY.require("the native AFT kernels are not loaded");
    Operand<TFloat32>[] in = inputs.clone();
    in[0] = AftOps.splitLast(tf, inputs[0], 3, c); // [B, T, 3, C]
    Operand<TFloat32> y = NativeKernels.builder(tf, type, name, in).build().output(0);
    return tf.reshape(y, Layers.withLastDim(tf, inputs[0], c));
  }

  @SafeVarargs
  private static Operand<TFloat32> fused(Ops tf, String type, String name, Operand<TFloat32>... inputs) {
    AVAILABILITY.require("the native AFT kernels are not loaded");
    return NativeKernels.apply(tf, type, name, inputs);
  }
}
