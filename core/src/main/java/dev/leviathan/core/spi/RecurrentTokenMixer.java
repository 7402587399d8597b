package dev.leviathan.core.spi;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * A token mixer that can also run one position at a time with a carried state, for constant-memory
 * generation. Running {@link #step} over positions 0..T-1 from {@link #initialState} must give the
 * same outputs as {@link #apply} on the whole sequence.
 */
public interface RecurrentTokenMixer extends TokenMixer {
  /** Result of one step: the output {@code [B, C]} and the next state. */
  record Step(Operand<TFloat32> output, List<Operand<TFloat32>> state) {}

  /** Shapes of the state tensors for one sequence (the batch dimension is prepended). */
  List<long[]> stateShapes();

  /**
   * One position: {@code x_t [B, C]} and the state after position t-1 (zeros before position 0).
   */
  Step step(Operand<TFloat32> xt, List<Operand<TFloat32>> state);
}
