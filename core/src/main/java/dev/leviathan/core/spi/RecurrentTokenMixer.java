package dev.leviathan.core.spi;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * A token mixer that can also generate one position at a time with a carried state: a state of
 * constant size (running sums, a recurrent hidden state, a window of recent terms) or a cache that
 * grows with the positions read (keys and values). Generation reads a prompt with {@link #prefill} in
 * one parallel pass, then calls {@link #step} once per new token, feeding back the state that the
 * previous call returned.
 *
 * <p>Contract, for any {@code x [B, T, C]} and any split {@code T = P + N} with {@code P >= 1}:
 * {@code prefill(x[:, :P]).output()} equals {@code apply(x[:, :P])}, and {@code N} calls of
 * {@link #step} at positions {@code P .. T-1}, each given the state the previous call returned, give
 * the outputs of {@code apply(x)} at those positions (to float rounding).
 *
 * <p>State tensors are float32. In the step graph they arrive as placeholders of <em>unknown</em>
 * static shape (the runtime feeds back whatever the previous call produced, and a cache grows by one
 * position per step), so {@link #step} must take every dimension it needs from {@code tf.shape(...)}
 * at run time or from the mixer's own constants, never from {@code state.get(i).shape()}.
 */
public interface RecurrentTokenMixer extends TokenMixer {
  /** Outputs ({@code [B, T, C]} from prefill, {@code [B, C]} from step) and the state after them. */
  record Step(Operand<TFloat32> output, List<Operand<TFloat32>> state) {}

  /**
   * Reads a prompt {@code x [B, T, C]} ({@code T >= 1}) in one parallel pass: the outputs of
   * {@code apply(x)} and the state after position {@code T - 1}.
   */
  Step prefill(Operand<TFloat32> x);

  /**
   * One new position: {@code x_t [B, C]} at {@code position} (a scalar: the number of positions read
   * before it), and the state after position {@code position - 1}; returns {@code y_t [B, C]} and the
   * state after {@code position}.
   */
  Step step(Operand<TFloat32> xt, Operand<TInt32> position, List<Operand<TFloat32>> state);

  /**
   * How many positions this mixer can read in one sequence: the size of its position-dependent
   * parameters (e.g. a learned {@code context x context} bias), or {@link Long#MAX_VALUE} when nothing
   * in it depends on the absolute position.
   */
  default long positionLimit() {
    return Long.MAX_VALUE;
  }
}
