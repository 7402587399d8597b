package dev.leviathan.core.model;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.RecurrentTokenMixer;
import dev.leviathan.core.spi.TokenMixer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Incremental generation graphs of a {@link LanguageModel}: the same function as
 * {@link LanguageModel#logits} (without dropout, as at inference), split into a prompt pass and one
 * step per new token that carries each layer's token-mixer state.
 *
 * <pre>
 *   prefill(tokens [B, P]):  x = wte[tokens] (+ wpe[0..P))
 *                            per block: (y, s_i) = mixer_i.prefill(norm1(x)); x += y; x += ffn_i(norm2(x))
 *                            -> logits of position P-1 [B, V], states s_i
 *   step(token [B], p, s):   x = wte[token] (+ wpe[p])                        [B, 1, C]
 *                            per block: (y, s_i') = mixer_i.step(norm1(x), p, s_i); x += y; x += ffn_i(norm2(x))
 *                            -> logits of position p [B, V], states s_i'
 * </pre>
 *
 * Embeddings, norms and channel mixers act per position, so the step runs them on {@code [B, 1, C]}.
 * A token mixer that is not a {@link RecurrentTokenMixer} (a plugin) is wrapped in
 * {@link RecomputeMixer}: its state is the layer's input history and each step re-applies it to the
 * whole history, so any stack can generate, at full-recompute cost in those layers only.
 */
public final class Generation {
  /** Logits of the last position read, {@code [B, V]}, and the state of every layer after it. */
  public record Output(Operand<TFloat32> logits, List<List<Operand<TFloat32>>> states) {}

  /** One block's pieces: the first norm, the token mixer, and channel mixer after the second norm. */
  record Layer(UnaryOperator<Operand<TFloat32>> norm1, TokenMixer mixer, UnaryOperator<Operand<TFloat32>> ffn) {}

  private final Ops tf;
  private final ModelConfig config;
  private final Operand<TFloat32> wte;
  private final Operand<TFloat32> wpe;
  private final List<Layer> layers;
  private final List<RecurrentTokenMixer> mixers = new ArrayList<>();
  private final List<Integer> recomputed = new ArrayList<>();
  private final UnaryOperator<Operand<TFloat32>> head;

  Generation(Ops tf, ModelConfig config, Operand<TFloat32> wte, Operand<TFloat32> wpe, List<Layer> layers,
      UnaryOperator<Operand<TFloat32>> head) {
    this.tf = tf;
    this.config = config;
    this.wte = wte;
    this.wpe = wpe;
    this.layers = List.copyOf(layers);
    this.head = head;
    for (int i = 0; i < layers.size(); i++) {
      TokenMixer m = layers.get(i).mixer();
      if (m instanceof RecurrentTokenMixer r) {
        mixers.add(r);
      } else {
        mixers.add(new RecomputeMixer(tf, m, config.width(), config.context()));
        recomputed.add(i);
      }
    }
  }

  /** Reads prompts {@code tokens [B, P]} ({@code 1 <= P <=} {@link #positionLimit()}) in one pass. */
  public Output prefill(Operand<TInt32> tokens) {
    Operand<TFloat32> x = tf.gather(wte, tokens, tf.constant(0));
    Operand<TInt32> p = Layers.dim(tf, tokens, 1);
    if (wpe != null) {
      x = tf.math.add(x, tf.slice(wpe, tf.constant(new int[] {0, 0}), tf.stack(List.of(p, tf.constant(-1)))));
    }
    List<List<Operand<TFloat32>>> states = new ArrayList<>();
    for (int i = 0; i < layers.size(); i++) {
      RecurrentTokenMixer.Step s = mixers.get(i).prefill(layers.get(i).norm1().apply(x));
      x = tf.math.add(x, s.output());
      x = tf.math.add(x, layers.get(i).ffn().apply(x));
      states.add(List.copyOf(s.state()));
    }
    Operand<TFloat32> last = tf.slice(x, tf.stack(List.of(tf.constant(0), tf.math.sub(p, tf.constant(1)), tf.constant(0))),
        tf.constant(new int[] {-1, 1, -1}));
    return new Output(vocabulary(head.apply(last)), states);
  }

  /**
   * One new token per sequence, {@code token [B]}, at {@code position} (scalar: the number of tokens
   * read before it), with the states that the previous prefill or step returned.
   */
  public Output step(Operand<TInt32> token, Operand<TInt32> position, List<List<Operand<TFloat32>>> states) {
    if (states.size() != layers.size()) {
      throw new IllegalArgumentException("one state list per layer expected (" + layers.size() + "), got "
          + states.size());
    }
    int c = config.width();
    Operand<TFloat32> x = tf.expandDims(tf.gather(wte, token, tf.constant(0)), tf.constant(1));
    if (wpe != null) {
      x = tf.math.add(x, tf.gather(wpe, position, tf.constant(0)));
    }
    List<List<Operand<TFloat32>>> next = new ArrayList<>();
    for (int i = 0; i < layers.size(); i++) {
      Operand<TFloat32> h = tf.reshape(layers.get(i).norm1().apply(x), tf.constant(new int[] {-1, c}));
      RecurrentTokenMixer.Step s = mixers.get(i).step(h, position, states.get(i));
      x = tf.math.add(x, tf.expandDims(s.output(), tf.constant(1)));
      x = tf.math.add(x, layers.get(i).ffn().apply(x));
      next.add(List.copyOf(s.state()));
    }
    return new Output(vocabulary(head.apply(x)), next);
  }

  /**
   * How many positions one sequence can hold: the context when a learned position embedding is used,
   * and no more than any layer's {@link RecurrentTokenMixer#positionLimit()} ({@link Long#MAX_VALUE}
   * when nothing depends on the absolute position).
   */
  public long positionLimit() {
    long limit = wpe != null ? config.context() : Long.MAX_VALUE;
    for (RecurrentTokenMixer m : mixers) {
      limit = Math.min(limit, m.positionLimit());
    }
    return limit;
  }

  /** Layers whose token mixer has no step function and is recomputed over its input history. */
  public List<Integer> recomputedLayers() {
    return List.copyOf(recomputed);
  }

  private Operand<TFloat32> vocabulary(Operand<TFloat32> logits) {
    return tf.reshape(logits, tf.constant(new int[] {-1, config.vocabSize()}));
  }
}
