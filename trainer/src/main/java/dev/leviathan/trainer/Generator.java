package dev.leviathan.trainer;

import dev.leviathan.core.model.Generation;
import dev.leviathan.core.model.LanguageModel;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Cached generation in a {@link ModelRuntime}'s graph and session: one {@code Session.run} reads the
 * prompts ({@link Generation#prefill}), then one run per new token ({@link Generation#step}). The
 * layers' states stay TensorFlow tensors: each run's state outputs are fed to the next run as they
 * are, and released once that run has finished. Only the logits {@code [B, V]} are copied out.
 */
public final class Generator {
  private final Session session;
  private final Placeholder<TInt32> prompt;
  private final Placeholder<TInt32> token;
  private final Placeholder<TInt32> position;
  private final List<Placeholder<TFloat32>> stateIn = new ArrayList<>();
  private final List<Operand<?>> prefillFetches = new ArrayList<>();
  private final List<Operand<?>> stepFetches = new ArrayList<>();
  private final long positionLimit;
  private final int prefillLimit;
  private final List<Integer> recomputedLayers;

  Generator(Ops tf, Session session, LanguageModel model) {
    this.session = session;
    Generation g = model.generation();
    prompt = tf.withName("generate_prompt").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, -1)));
    token = tf.withName("generate_token").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
    position = tf.withName("generate_position").placeholder(TInt32.class, Placeholder.shape(Shape.scalar()));
    Generation.Output first = g.prefill(prompt);
    prefillFetches.add(first.logits());
    List<List<Operand<TFloat32>>> in = new ArrayList<>();
    for (List<Operand<TFloat32>> layer : first.states()) {
      List<Operand<TFloat32>> placeholders = new ArrayList<>();
      for (Operand<TFloat32> s : layer) {
        Placeholder<TFloat32> p = tf.withName("generate_state_" + stateIn.size()).placeholder(TFloat32.class);
        stateIn.add(p);
        placeholders.add(p);
        prefillFetches.add(s);
      }
      in.add(placeholders);
    }
    Generation.Output next = g.step(token, position, in);
    stepFetches.add(next.logits());
    for (int i = 0; i < next.states().size(); i++) {
      if (next.states().get(i).size() != in.get(i).size()) {
        throw new IllegalStateException("token mixer of layer " + i + " returns " + next.states().get(i).size()
            + " state tensors from step but " + in.get(i).size() + " from prefill; this is a defect of the mixer");
      }
      stepFetches.addAll(next.states().get(i));
    }
    positionLimit = g.positionLimit();
    prefillLimit = model.config().context();
    recomputedLayers = g.recomputedLayers();
  }

  /** Longest sequence (prompt and generated tokens) the cached path can hold; see {@link Generation}. */
  public long positionLimit() {
    return positionLimit;
  }

  /** Layers without a step function, recomputed over their input history at every step. */
  public List<Integer> recomputedLayers() {
    return recomputedLayers;
  }

  /**
   * Reads {@code prompts} (one row per sequence, all of the same length, at most
   * {@link #positionLimit()}); the returned sequence holds the logits of the next token. Up to the model's
   * context the prompt is one parallel pass; the tokens of a longer prompt (a model whose mixers carry a
   * state past the context and no position embedding) are then read one step each.
   */
  public Sequence start(int[][] prompts) {
    int b = prompts.length;
    int p = b == 0 ? 0 : prompts[0].length;
    if (b == 0 || p == 0) {
      throw new IllegalArgumentException("generation needs at least one prompt of at least one token");
    }
    if (p > positionLimit) {
      throw new IllegalArgumentException("prompt of " + p + " tokens is longer than the position limit "
          + positionLimit + "; shorten it or use full recompute");
    }
    for (int i = 0; i < b; i++) {
      if (prompts[i].length != p) {
        throw new IllegalArgumentException("all prompts must have the same length: " + p + " and "
            + prompts[i].length);
      }
    }
    // The parallel pass of a token mixer reads at most the context at once; a longer prompt (a mixer whose
    // state goes past the context) continues one step per token from there.
    int head = (int) Math.min(p, prefillLimit);
    int[] flat = new int[b * head];
    for (int i = 0; i < b; i++) {
      System.arraycopy(prompts[i], 0, flat, i * head, head);
    }
    Sequence s;
    try (TInt32 t = TInt32.tensorOf(Shape.of(b, head), DataBuffers.of(flat, true, false))) {
      Session.Runner r = session.runner().feed(prompt, t);
      prefillFetches.forEach(r::fetch);
      s = new Sequence(r.run(), head, b);
    }
    try {
      for (int j = head; j < p; j++) {
        int[] column = new int[b];
        for (int i = 0; i < b; i++) {
          column[i] = prompts[i][j];
        }
        s.append(column);
      }
    } catch (RuntimeException e) {
      s.close();
      throw e;
    }
    return s;
  }

  /** A batch of sequences being generated: the logits of their next token and the states behind them. */
  public final class Sequence implements AutoCloseable {
    private Result current;
    private int length;
    private final int batch;

    private Sequence(Result current, int length, int batch) {
      this.current = current;
      this.length = length;
      this.batch = batch;
    }

    /** Tokens read so far per sequence (the position the next token will take). */
    public int length() {
      return length;
    }

    /** Logits {@code [B][V]} of the next token. */
    public float[][] logits() {
      TFloat32 t = (TFloat32) current.get(0);
      int v = (int) t.shape().size(1);
      float[] flat = new float[batch * v];
      t.copyTo(DataBuffers.of(flat, false, false));
      float[][] out = new float[batch][];
      for (int i = 0; i < batch; i++) {
        out[i] = java.util.Arrays.copyOfRange(flat, i * v, (i + 1) * v);
      }
      return out;
    }

    /** Reads one more token per sequence, at position {@link #length()}. */
    public void append(int[] tokens) {
      if (tokens.length != batch) {
        throw new IllegalArgumentException("one token per sequence expected (" + batch + "), got " + tokens.length);
      }
      if (length >= positionLimit) {
        throw new IllegalStateException("the sequence is at its position limit " + positionLimit);
      }
      try (TInt32 t = TInt32.vectorOf(tokens); TInt32 p = TInt32.scalarOf(length)) {
        Session.Runner r = session.runner().feed(token, t).feed(position, p);
        for (int i = 0; i < stateIn.size(); i++) {
          r.feed(stateIn.get(i), current.get(i + 1));
        }
        stepFetches.forEach(r::fetch);
        Result next = r.run();
        current.close();
        current = next;
        length++;
      }
    }

    @Override
    public void close() {
      current.close();
    }
  }
}
