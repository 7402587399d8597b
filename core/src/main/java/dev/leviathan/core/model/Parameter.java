package dev.leviathan.core.model;

import dev.leviathan.core.spi.Initializer;
import java.util.Arrays;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/** A trainable parameter: its full graph name, shape, initialiser, decay flag and variable. */
public record Parameter(
    String name, long[] shape, Initializer init, boolean decay, Variable<TFloat32> variable) {

  /** Number of scalars. */
  public long size() {
    return Arrays.stream(shape).reduce(1, (a, b) -> a * b);
  }

  @Override
  public String toString() {
    return name + Arrays.toString(shape) + (decay ? " decay" : "");
  }
}
