package dev.leviathan.aft;

import dev.leviathan.core.ops.Layers;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.OperationBuilder;
import org.tensorflow.Output;
import org.tensorflow.TensorFlow;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The fused CPU kernels of the AFT sums ({@code src/main/c/leviathan_aft.c}), each one op and one for its
 * gradient: {@value #OP} for what {@link DyadicMix} builds from a few hundred graph nodes per layer, and
 * {@value #SCAN_OP} for aft-simple's running sums ({@link AftOps#prefixScan}), in O(T C).
 *
 * <p>The library is compiled by the build when a C compiler is present (Linux x86-64) and shipped in
 * this module's jar; TensorFlow loads it the first time a mixer asks for it. Without it, or with
 * {@code LEVIATHAN_NATIVE_KERNELS=off} in the environment (or {@code -Dleviathan.native-kernels=off}),
 * every mixer builds the graph form, which gives the same sums (tested). Graphs that must run in any
 * TensorFlow (a SavedModel export) never use it.
 */
final class NativeAft {
  static final String OP = "LeviathanAftMix";
  static final String GRAD_OP = "LeviathanAftMixGrad";
  static final String SCAN_OP = "LeviathanAftScan";
  static final String SCAN_GRAD_OP = "LeviathanAftScanGrad";
  static final String RESOURCE = "/dev/leviathan/aft/native/linux-x86_64/libleviathan-aft.so";

  /**
   * Largest context at which the mixers take the fused {@value #OP}: its work grows as T^2 C on one thread
   * per sequence, and past this the graph forms' matrix products are faster (measured in docs/results.md).
   * The scan is O(T C) and taken at every context.
   */
  static final int MIX_MAX_CONTEXT = 256;

  private static final Availability AVAILABILITY = load();

  /** Whether the kernels are loaded, and if not, why. */
  record Availability(boolean loaded, String reason) {}

  private NativeAft() {}

  static Availability availability() {
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
   * {@code num / den} of the running sums {@code sum_{t' <= t} exp(k_t' - m_t) [v_t'; 1]} (aft-simple, every
   * weight 1) of keys and values {@code [B, T, C]}, {@code [B, T, C]}.
   */
  static Operand<TFloat32> scanRatio(Ops tf, Operand<TFloat32> keys, Operand<TFloat32> values) {
    return fused(tf, SCAN_OP, "AftScan", keys, values);
  }

  /**
   * Output 0 of the fused op, reshaped to the keys' run-time shape as the graph forms' outputs are (with a
   * fully static shape TensorFlow's oneDNN rewrite picks other kernels downstream, whose rows are no longer
   * bit for bit independent of later positions).
   */
  @SafeVarargs
  private static Operand<TFloat32> fused(Ops tf, String type, String name, Operand<TFloat32>... inputs) {
    if (!AVAILABILITY.loaded()) {
      throw new IllegalStateException("the native AFT kernels are not loaded: " + AVAILABILITY.reason());
    }
    OperationBuilder b = tf.scope().opBuilder(type, name);
    for (Operand<TFloat32> in : inputs) {
      b.addInput(in.asOutput());
    }
    Operand<TFloat32> y = b.build().output(0);
    Operand<TFloat32> keys = inputs[0];
    return tf.reshape(y, Layers.withLastDim(tf, keys, (int) keys.shape().size(-1)));
  }

  private static Availability load() {
    String setting = System.getProperty("leviathan.native-kernels", System.getenv("LEVIATHAN_NATIVE_KERNELS"));
    if (setting != null && List.of("off", "false", "0", "no").contains(setting.trim().toLowerCase(Locale.ROOT))) {
      return new Availability(false, "switched off (LEVIATHAN_NATIVE_KERNELS=" + setting + ")");
    }
    if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux")
        || !List.of("amd64", "x86_64").contains(System.getProperty("os.arch", ""))) {
      return new Availability(false, "built for Linux x86-64 only");
    }
    try (InputStream in = NativeAft.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        return new Availability(false, "not built (no C compiler when this module was built)");
      }
      Path file = Files.createTempFile("leviathan-aft", ".so");
      file.toFile().deleteOnExit();
      Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
      List<String> ops = TensorFlow.loadLibrary(file.toString()).getOpList().stream().map(op -> op.getName()).toList();
      if (!ops.containsAll(List.of(OP, GRAD_OP, SCAN_OP, SCAN_GRAD_OP))) {
        return new Availability(false, "the library registered " + ops + " only (see its message on standard error)");
      }
    } catch (IOException | RuntimeException | UnsatisfiedLinkError e) {
      return new Availability(false, "TensorFlow could not load it: " + e.getMessage());
    }
    TensorFlow.registerCustomGradient(OP, (tf, op, grads) -> gradient(tf, op, grads, GRAD_OP, 3));
    TensorFlow.registerCustomGradient(SCAN_OP, (tf, op, grads) -> gradient(tf, op, grads, SCAN_GRAD_OP, 2));
    return new Availability(true, "loaded");
  }

  /**
   * The gradient of a fused op with {@code n} inputs and outputs (y, den): its gradient op of the inputs, the
   * outputs and the gradients arriving at them (zeros where none arrives), one gradient per input.
   */
  @SuppressWarnings("unchecked")
  private static List<Operand<?>> gradient(Ops tf, GraphOperation op, List<Output<?>> grads, String gradOp, int n) {
    Output<TFloat32> y = op.output(0);
    Output<TFloat32> den = op.output(1);
    Operand<TFloat32> dy = grads.get(0) != null ? (Operand<TFloat32>) grads.get(0) : tf.zerosLike(y);
    Operand<TFloat32> dden = grads.size() > 1 && grads.get(1) != null
        ? (Operand<TFloat32>) grads.get(1) : tf.zerosLike(den);
    OperationBuilder b = tf.scope().opBuilder(gradOp, gradOp);
    for (int i = 0; i < n; i++) {
      b.addInput(op.input(i));
    }
    b.addInput(y);
    b.addInput(den);
    b.addInput(dy.asOutput());
    b.addInput(dden.asOutput());
    GraphOperation g = (GraphOperation) b.build();
    List<Operand<?>> out = new java.util.ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(g.output(i));
    }
    return out;
  }
}
