package dev.leviathan.core.spi;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * Creates the trainable parameters of one mixer. Every parameter is named (unique within the mixer),
 * initialised by an {@link Initializer} and flagged for weight decay or not, so the trainer can count,
 * save, restore and decay it without knowing the mixer.
 */
public interface Parameters {
  /**
   * Creates a float32 parameter.
   *
   * @param name short name within the mixer: letters, digits, '_' and '-'
   * @param shape static shape
   * @param init initial values
   * @param decay whether AdamW applies weight decay to it (matrices: yes; biases, gains: no)
   * @return the parameter's value, read from its variable (an explicit read, so every op, and every
   *     gradient function, sees a plain float tensor rather than a reference to the variable)
   */
  Operand<TFloat32> create(String name, long[] shape, Initializer init, boolean decay);

  /** Number of blocks in the model (for depth-scaled initialisation). */
  int layers();

  /** A {@code [in, out]} matrix, N(0, 0.02^2), decayed (GPT-2). */
  default Operand<TFloat32> matrix(String name, long in, long out) {
    return create(name, new long[] {in, out}, Initializer.normal(Initializer.GPT2_STD), true);
  }

  /**
   * A {@code [in, out]} matrix that writes into the residual stream, N(0, (0.02 / sqrt(2 layers))^2),
   * decayed (GPT-2's scaled initialisation of output projections).
   */
  default Operand<TFloat32> outputMatrix(String name, long in, long out) {
    double std = Initializer.GPT2_STD / Math.sqrt(2.0 * layers());
    return create(name, new long[] {in, out}, Initializer.normal(std), true);
  }

  /** A bias vector, zeros, not decayed. */
  default Operand<TFloat32> bias(String name, long size) {
    return create(name, new long[] {size}, Initializer.zeros(), false);
  }

  /** A gain vector, ones, not decayed. */
  default Operand<TFloat32> gain(String name, long size) {
    return create(name, new long[] {size}, Initializer.ones(), false);
  }
}
