package dev.leviathan.core.ops;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.OperationBuilder;
import org.tensorflow.Output;
import org.tensorflow.TensorFlow;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * A module's fused CPU kernels: a C library shipped in the module's jar (built against
 * {@code core/src/main/c-include/leviathan_kernels.h} where {@code gcc} is), loaded into TensorFlow, each op with a
 * gradient op whose inputs are the op's inputs, its outputs and the gradients arriving at its first outputs (as
 * many as the gradient op declares inputs for: an output that only the gradient reads, such as LayerNorm's
 * per-row scale, takes none), and whose outputs are the gradients of the op's inputs.
 *
 * <p>{@code LEVIATHAN_NATIVE_KERNELS=off} in the environment (or {@code -Dleviathan.native-kernels=off})
 * switches every library off; mixers then build their graph forms, as they must where
 * {@link dev.leviathan.core.spi.LayerContext#portable()} is true.
 */
public final class NativeKernels {
  /** Whether a library is loaded, and if not, why. */
  public record Availability(boolean loaded, String reason) {
    /** Throws unless loaded: {@code notLoaded} (e.g. "the native attention kernel is not loaded") and why. */
    public void require(String notLoaded) {
      if (!loaded) {
        throw new IllegalStateException(notLoaded + ": " + reason);
      }
    }
  }

  /** The number of inputs of each loaded gradient op. */
  private static final Map<String, Integer> GRADIENT_INPUTS = new ConcurrentHashMap<>();

  private NativeKernels() {}

  /**
   * Loads the library {@code resource} of {@code owner}'s jar (Linux x86-64) and connects each op of
   * {@code gradients} (op type -> its gradient op type) to its gradient op.
   */
  public static Availability load(Class<?> owner, String resource, Map<String, String> gradients) {
    String setting = System.getProperty("leviathan.native-kernels", System.getenv("LEVIATHAN_NATIVE_KERNELS"));
    if (setting != null && List.of("off", "false", "0", "no").contains(setting.trim().toLowerCase(Locale.ROOT))) {
      return new Availability(false, "switched off (LEVIATHAN_NATIVE_KERNELS=" + setting + ")");
    }
    if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux")
        || !List.of("amd64", "x86_64").contains(System.getProperty("os.arch", ""))) {
      return new Availability(false, "built for Linux x86-64 only");
    }
    try (InputStream in = owner.getResourceAsStream(resource)) {
      if (in == null) {
        return new Availability(false, "not built (no C compiler when " + owner.getSimpleName() + "'s module was built)");
      }
      Path file = Files.createTempFile("leviathan-kernels", ".so");
      try {
        Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
        Map<String, Integer> ops = TensorFlow.loadLibrary(file.toString()).getOpList().stream()
            .collect(Collectors.toMap(op -> op.getName(), op -> op.getInputArgCount()));
        List<String> wanted = new ArrayList<>(gradients.keySet());
        wanted.addAll(gradients.values());
        if (!ops.keySet().containsAll(wanted)) {
          return new Availability(false,
              "the library registered " + ops.keySet() + " only (see its message on standard error)");
        }
        gradients.values().forEach(gradOp -> GRADIENT_INPUTS.put(gradOp, ops.get(gradOp)));
      } finally {
        Files.deleteIfExists(file); // mapped by now; nothing left behind
      }
    } catch (IOException | RuntimeException | UnsatisfiedLinkError e) {
      return new Availability(false, "TensorFlow could not load it: " + e.getMessage());
    }
    gradients.forEach((op, gradOp) -> TensorFlow.registerCustomGradient(op, (tf, o, g) -> gradient(tf, o, g, gradOp)));
    return new Availability(true, "loaded");
  }

  /**
   * Output 0 of the op {@code type} of {@code inputs}, reshaped to the run-time shape of the first input (its
   * last dimension static), as graph forms' outputs are (with a fully static shape TensorFlow's oneDNN
   * rewrite picks other kernels downstream, whose rows are no longer bit for bit independent of later
   * positions).
   */
  @SafeVarargs
  public static Operand<TFloat32> apply(Ops tf, String type, String name, Operand<TFloat32>... inputs) {
    Operand<TFloat32> y = builder(tf, type, name, inputs).build().output(0);
    return tf.reshape(y, Layers.withLastDim(tf, inputs[0], (int) inputs[0].shape().size(-1)));
  }

  /** A builder of the op {@code type} named {@code name} in {@code tf}'s scope, its inputs added. */
  @SafeVarargs
  public static OperationBuilder builder(Ops tf, String type, String name, Operand<TFloat32>... inputs) {
    OperationBuilder b = tf.scope().opBuilder(type, name);
    for (Operand<TFloat32> in : inputs) {
      b.addInput(in.asOutput());
    }
    return b;
  }

  @SuppressWarnings("unchecked")
  private static List<Operand<?>> gradient(Ops tf, GraphOperation op, List<Output<?>> grads, String gradOp) {
    OperationBuilder b = tf.scope().opBuilder(gradOp, gradOp);
    for (int i = 0; i < op.numInputs(); i++) {
      b.addInput(op.input(i));
    }
    for (int i = 0; i < op.numOutputs(); i++) {
      b.addInput(op.output(i));
    }
    int incoming = GRADIENT_INPUTS.get(gradOp) - op.numInputs() - op.numOutputs();
    for (int i = 0; i < incoming; i++) {
      Output<?> g = i < grads.size() ? grads.get(i) : null;
      Output<TFloat32> y = op.output(i);
      b.addInput(g != null ? g : tf.zerosLike(y).asOutput());
    }
    GraphOperation g = (GraphOperation) b.build();
    List<Operand<?>> out = new ArrayList<>();
    for (int i = 0; i < op.numInputs(); i++) {
      out.add(g.output(i));
    }
    return out;
  }
}
