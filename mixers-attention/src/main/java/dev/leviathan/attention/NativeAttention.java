package dev.leviathan.attention;

import dev.leviathan.core.ops.NativeKernels;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The fused CPU kernel of causal attention ({@code src/main/c/leviathan_attention.c}, loaded through
 * {@link NativeKernels}): {@value #OP} reads q, k and v straight from the projection's output and computes
 * softmax-weighted sums one row of scores at a time, and its gradient op recomputes the scores from the
 * saved log-sum-exp, so no {@code [T, T]} tensor is built or kept. It replaces the transposes, the two
 * batched products, the mask and the softmax of the graph form (and their gradients). Built where {@code gcc}
 * is; without it, with {@code LEVIATHAN_NATIVE_KERNELS=off}, in a portable graph or with attention dropout
 * the mixer builds the graph form, which computes the same (tested).
 */
final class NativeAttention {
  static final String OP = "LeviathanCausalAttention";
  static final String GRAD_OP = "LeviathanCausalAttentionGrad";
  static final String RESOURCE = "/dev/leviathan/attention/native/linux-x86_64/libleviathan-attention.so";

  private static final NativeKernels.Availability AVAILABILITY =
      NativeKernels.load(NativeAttention.class, RESOURCE, Map.of(OP, GRAD_OP));

  private NativeAttention() {}

  static NativeKernels.Availability availability() {
    return AVAILABILITY;
  }

  static boolean loaded() {
    return AVAILABILITY.loaded();
  }

  /**
   * Causal attention of the heads in {@code qkv [B, T, 3, H, D]} (q, k, v along axis 2), scores scaled by
   * {@code 1/sqrt(D)}: {@code [B, T, H, D]}.
   */
  static Operand<TFloat32> attend(Ops tf, Operand<TFloat32> qkv) {
    AVAILABILITY.require("the native attention kernel is not loaded");
    return NativeKernels.builder(tf, OP, "CausalAttention", qkv).build().output(0);
  }
}
