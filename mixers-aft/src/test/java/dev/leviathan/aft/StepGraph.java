package dev.leviathan.aft;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.model.MixerContext;
import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.RecurrentTokenMixer;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * One AFT mixer in a graph with three entry points, run the way a generating runtime runs them: the
 * whole-sequence {@code apply}, {@code prefill} of a prompt, and one {@code step} whose state inputs are
 * placeholders of unknown shape fed with the tensors the previous call returned.
 */
final class StepGraph implements AutoCloseable {
  private final Graph graph = new Graph();
  private final Ops tf = Ops.create(graph);
  private final ParameterStore store = new ParameterStore(2);
  private final Session session;
  final RecurrentTokenMixer mixer;
  private final int width;
  private final Placeholder<TFloat32> x;
  private final Operand<TFloat32> applied;
  private final Placeholder<TFloat32> prompt;
  private final RecurrentTokenMixer.Step prefilled;
  private final Placeholder<TFloat32> xt;
  private final Placeholder<TInt32> position;
  private final List<Placeholder<TFloat32>> state = new ArrayList<>();
  private final RecurrentTokenMixer.Step stepped;

  StepGraph(TokenMixerProvider provider, Map<String, ?> options, int width, int context) {
    this.width = width;
    Ops scoped = tf.withSubScope("mixer");
    MixerContext layer = new MixerContext(scoped, width, context, 0, 2, store.scoped(scoped, "mixer"), null);
    TokenMixer created = provider.create(layer, MixerOptions.resolve(provider, options));
    assertTrue(created instanceof RecurrentTokenMixer, provider.name() + " offers a step function");
    mixer = (RecurrentTokenMixer) created;
    x = tf.withName("x").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, width)));
    applied = mixer.apply(x);
    prompt = tf.withName("prompt").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, width)));
    prefilled = mixer.prefill(prompt);
    xt = tf.withName("xt").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, width)));
    position = tf.withName("position").placeholder(TInt32.class, Placeholder.shape(Shape.scalar()));
    for (int i = 0; i < prefilled.state().size(); i++) {
      state.add(tf.withName("state" + i).placeholder(TFloat32.class, Placeholder.shape(Shape.unknown())));
    }
    stepped = mixer.step(xt, position, new ArrayList<>(state));
    session = new Session(graph);
    store.initialize(session, 1234L);
  }

  /** Parameter values by short name. */
  Map<String, float[]> parameters() {
    Map<String, float[]> out = new LinkedHashMap<>();
    store.read(session).forEach((k, v) -> out.put(k.substring("mixer/".length()), v));
    return out;
  }

  void set(String name, float[] values) {
    store.set(session, Map.of("mixer/" + name, values));
  }

  /** Sets every parameter to N(0, std^2). */
  void randomise(Random rnd, double std) {
    parameters().forEach((name, v) -> {
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (rnd.nextGaussian() * std);
      }
      set(name, v);
    });
  }

  /** Replaces the key columns of {@code w_qkv} by {@code scale} times unit vectors (see {@link AftTesting#setKeyColumns}). */
  void setKeyColumns(int keys, float scale) {
    float[] w = parameters().get("w_qkv");
    int cols = 2 * width + keys;
    for (int i = 0; i < width; i++) {
      for (int k = 0; k < keys; k++) {
        w[i * cols + width + k] = i == k ? scale : 0f;
      }
    }
    set("w_qkv", w);
  }

  /** {@code apply(x)}. */
  float[][][] apply(float[][][] in) {
    try (TFloat32 t = tensor(in); Result r = session.runner().feed(x, t).fetch(applied).run()) {
      return unflatten((TFloat32) r.get(0), in.length, in[0].length);
    }
  }

  /**
   * {@code prefill(x[:, :p])} followed by steps at positions {@code p .. T-1}: the outputs of all
   * positions, prompt and steps, as {@code [B][T][C]}.
   */
  float[][][] generate(float[][][] in, int p) {
    int b = in.length, t = in[0].length;
    float[][][] out = new float[b][t][];
    float[][][] head = new float[b][p][];
    for (int i = 0; i < b; i++) {
      System.arraycopy(in[i], 0, head[i], 0, p);
    }
    Session.Runner runner = session.runner();
    Result previous;
    try (TFloat32 promptTensor = tensor(head)) {
      runner.feed(prompt, promptTensor).fetch(prefilled.output());
      prefilled.state().forEach(runner::fetch);
      previous = runner.run();
    }
    try {
      float[][][] y = unflatten((TFloat32) previous.get(0), b, p);
      for (int i = 0; i < b; i++) {
        System.arraycopy(y[i], 0, out[i], 0, p);
      }
      for (int pos = p; pos < t; pos++) {
        float[] row = new float[b * width];
        for (int i = 0; i < b; i++) {
          System.arraycopy(in[i][pos], 0, row, i * width, width);
        }
        Result next;
        try (TFloat32 rowTensor = TFloat32.tensorOf(Shape.of(b, width), DataBuffers.of(row, true, false));
            TInt32 posTensor = TInt32.scalarOf(pos)) {
          Session.Runner r = session.runner().feed(xt, rowTensor).feed(position, posTensor).fetch(stepped.output());
          for (int s = 0; s < state.size(); s++) {
            r.feed(state.get(s), (Tensor) previous.get(s + 1));
          }
          stepped.state().forEach(r::fetch);
          next = r.run();
        }
        previous.close();
        previous = next;
        float[] yt = flat((TFloat32) previous.get(0));
        for (int i = 0; i < b; i++) {
          out[i][pos] = java.util.Arrays.copyOfRange(yt, i * width, (i + 1) * width);
        }
      }
    } finally {
      previous.close();
    }
    return out;
  }

  /**
   * Asserts that prefill of {@code p} positions and steps over the rest give {@code apply(x)} at every
   * position to {@code tol} (relative, with an absolute floor of {@code tol}), for each p.
   */
  void assertGenerationMatchesApply(float[][][] in, double tol, int... prompts) {
    float[][][] expected = apply(in);
    for (int p : prompts) {
      assertClose(expected, generate(in, p), tol, "prompt of " + p);
    }
  }

  static void assertClose(float[][][] expected, float[][][] actual, double tol, String what) {
    for (int b = 0; b < expected.length; b++) {
      for (int t = 0; t < expected[b].length; t++) {
        for (int c = 0; c < expected[b][t].length; c++) {
          double e = expected[b][t][c], a = actual[b][t][c];
          assertTrue(Math.abs(e - a) <= tol * Math.max(1, Math.abs(e)),
              what + ", at [" + b + "," + t + "," + c + "]: expected " + e + " but was " + a);
        }
      }
    }
  }

  private static TFloat32 tensor(float[][][] x) {
    int b = x.length, t = x[0].length, c = x[0][0].length;
    float[] flat = new float[b * t * c];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < t; j++) {
        System.arraycopy(x[i][j], 0, flat, (i * t + j) * c, c);
      }
    }
    return TFloat32.tensorOf(Shape.of(b, t, c), DataBuffers.of(flat, true, false));
  }

  private static float[] flat(TFloat32 t) {
    float[] out = new float[(int) t.size()];
    t.copyTo(DataBuffers.of(out, false, false));
    return out;
  }

  private static float[][][] unflatten(TFloat32 t, int b, int tt) {
    float[] f = flat(t);
    int c = f.length / (b * tt);
    float[][][] y = new float[b][tt][c];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < tt; j++) {
        System.arraycopy(f, (i * tt + j) * c, y[i][j], 0, c);
      }
    }
    return y;
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }
}
