package dev.leviathan.core.spi;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * Everything a provider needs to build a mixer for one layer: the graph ops (scoped to this mixer),
 * the model width and maximum context, the layer's position in the stack, its parameter factory and
 * dropout that is active only while training.
 */
public interface LayerContext {
  /** Graph ops, scoped to this mixer (op names appear under {@code block<i>/<role>}). */
  Ops tf();

  /** Channels C of the residual stream. */
  int width();

  /** Maximum sequence length T the model is built for; inputs have {@code T <= context()}. */
  int context();

  /** Index of this block, 0-based. */
  int layer();

  /** Number of blocks. */
  int layers();

  /** Parameter factory for this mixer. */
  Parameters params();

  /**
   * Inverted dropout with the given rate, applied only while training (a no-op graph-wise when
   * {@code rate == 0}).
   */
  Operand<TFloat32> dropout(Operand<TFloat32> x, double rate);

  /**
   * Whether the mixer must build from TensorFlow's own ops only, never from ops its module loads from a
   * native library of its own: for a graph that must run in any TensorFlow (an exported SavedModel) and for
   * a model placed on a GPU (such kernels are CPU code; TensorFlow would copy the layer's tensors to the host
   * and back at every step).
   */
  default boolean portable() {
    return false;
  }
}
