package dev.leviathan.mml;

import dev.leviathan.core.ops.NativeKernels;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The fused CPU kernel of mlgru's recurrence ({@code src/main/c/leviathan_mml.c}, loaded through
 * {@link NativeKernels}): {@value #OP}, {@code h_t = exp(logA_t) h_{t-1} + u_t} in O(T C), and its gradient,
 * for what the chunked scan builds from a few hundred graph nodes per layer. Built where {@code gcc} is;
 * without it, with {@code LEVIATHAN_NATIVE_KERNELS=off} or in a portable graph mlgru takes the chunked scan,
 * which gives the same states (tested).
 */
final class NativeMml {
  static final String OP = "LeviathanLinearScan";
  static final String GRAD_OP = "LeviathanLinearScanGrad";
  static final String RESOURCE = "/dev/leviathan/mml/native/linux-x86_64/libleviathan-mml.so";

  private static final NativeKernels.Availability AVAILABILITY =
      NativeKernels.load(NativeMml.class, RESOURCE, Map.of(OP, GRAD_OP));

  private NativeMml() {}

  static NativeKernels.Availability availability() {
    return AVAILABILITY;
  }

  static boolean loaded() {
    return AVAILABILITY.loaded();
  }

  /** The states {@code h [B, T, C]} of {@code h_t = exp(logA_t) h_{t-1} + u_t}, {@code h_{-1} = 0}. */
  static Operand<TFloat32> linearScan(Ops tf, Operand<TFloat32> logA, Operand<TFloat32> u) {
    AVAILABILITY.require("the native mlgru kernel is not loaded");
    return NativeKernels.apply(tf, OP, "LinearScan", logA, u);
  }
}
