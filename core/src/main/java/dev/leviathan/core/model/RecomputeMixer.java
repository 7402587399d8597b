package dev.leviathan.core.model;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.RecurrentTokenMixer;
import dev.leviathan.core.spi.TokenMixer;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Gives any causal {@link TokenMixer} a step function by recomputation. The state is the mixer's
 * input history {@code X [B, t, C]}:
 *
 * <pre>
 *   prefill(x):          y = apply(x),                 state = x
 *   step(x_t, p, X):     X' = concat(X, x_t) on axis 1, y_t = apply(X')[:, -1],   state = X'
 * </pre>
 *
 * Exact by causality (output {@code t} reads inputs {@code <= t} only); each step costs a full
 * {@code apply} over the history. The limit is the context, the longest input {@link TokenMixer#apply}
 * accepts.
 */
final class RecomputeMixer implements RecurrentTokenMixer {
  private final Ops tf;
  private final TokenMixer mixer;
  private final int width;
  private final int context;

  RecomputeMixer(Ops tf, TokenMixer mixer, int width, int context) {
    this.tf = tf;
    this.mixer = mixer;
    this.width = width;
    this.context = context;
  }

  @Override
  public Operand<TFloat32> apply(Operand<TFloat32> x) {
    return mixer.apply(x);
  }

  @Override
  public Step prefill(Operand<TFloat32> x) {
    return new Step(mixer.apply(x), List.of(x));
  }

  @Override
  public Step step(Operand<TFloat32> xt, Operand<TInt32> position, List<Operand<TFloat32>> state) {
    if (state.size() != 1) {
      throw new IllegalArgumentException("a recomputed mixer carries one state tensor (its input history), got "
          + state.size());
    }
    Operand<TFloat32> past = tf.ensureShape(state.get(0), Shape.of(-1, -1, width));
    Operand<TFloat32> history = tf.concat(List.of(past, tf.expandDims(xt, tf.constant(1))), tf.constant(1));
    Operand<TFloat32> y = mixer.apply(history);
    Operand<TInt32> last = tf.math.sub(Layers.dim(tf, history, 1), tf.constant(1));
    return new Step(tf.gather(y, last, tf.constant(1)), List.of(history));
  }

  @Override
  public long positionLimit() {
    return context;
  }
}
