package dev.leviathan.core.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.model.Dropout;
import dev.leviathan.core.model.MixerContext;
import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.Parameters;
import dev.leviathan.core.spi.RecurrentTokenMixer;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import org.tensorflow.Graph;
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
 * Checks a {@link RecurrentTokenMixer} against its own {@code apply}: one graph holds
 * {@code apply(x)}, {@code prefill(x_prompt)} and one {@code step(x_t, position, state)} whose state
 * inputs are placeholders of <em>unknown</em> shape, as the generation runtime builds them. A
 * generation runs prefill on {@code x[:, :P]}, then steps at positions {@code P .. T-1}, each fed the
 * state tensors the previous call returned (kept as returned, never reshaped).
 *
 * <p>Typical use: set the parameters to random values of order 0.5, then
 * {@link #assertMatchesApply(float[][][], double)} on a batch of 2 or more.
 */
public final class StepChecks implements AutoCloseable {
  private final Graph graph = new Graph();
  private final Session session;
  private final ParameterStore store;
  private final RecurrentTokenMixer mixer;
  private final Placeholder<TFloat32> input;
  private final Operand<TFloat32> applied;
  private final Placeholder<TFloat32> prompt;
  private final RecurrentTokenMixer.Step prefill;
  private final Placeholder<TFloat32> token;
  private final Placeholder<TInt32> position;
  private final List<Placeholder<TFloat32>> stateInputs = new ArrayList<>();
  private final RecurrentTokenMixer.Step step;
  public final int width;
  public final int context;

  /** One generation: outputs {@code [B][T][C]} and the shape of every state tensor after each call. */
  public record Generation(float[][][] outputs, List<List<long[]>> stateShapes) {}

  private StepChecks(TokenMixerProvider provider, Map<String, ?> rawOptions, int width, int context, long seed) {
    this.width = width;
    this.context = context;
    Ops tf = Ops.create(graph);
    store = new ParameterStore(2);
    Ops scoped = tf.withSubScope("mixer");
    Parameters p = store.scoped(scoped, "mixer");
    LayerContext ctx = new MixerContext(scoped, width, context, 0, 2, p, new Dropout(tf));
    TokenMixer created = provider.create(ctx, MixerOptions.resolve(provider, rawOptions));
    assertTrue(created instanceof RecurrentTokenMixer,
        "mixer '" + provider.name() + "' does not implement RecurrentTokenMixer");
    mixer = (RecurrentTokenMixer) created;
    input = tf.withName("x").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, width)));
    applied = mixer.apply(input);
    prompt = tf.withName("prompt").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, width)));
    prefill = mixer.prefill(prompt);
    token = tf.withName("x_t").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, width)));
    position = tf.withName("position").placeholder(TInt32.class, Placeholder.shape(Shape.scalar()));
    for (int i = 0; i < prefill.state().size(); i++) {
      stateInputs.add(tf.withName("state_" + i).placeholder(TFloat32.class, Placeholder.shape(Shape.unknown())));
    }
    step = mixer.step(token, position, new ArrayList<>(stateInputs));
    assertEquals(stateInputs.size(), step.state().size(),
        "step returns " + step.state().size() + " state tensors but prefill returned " + stateInputs.size());
    session = new Session(graph);
    store.initialize(session, seed);
  }

  public static StepChecks of(TokenMixerProvider provider, Map<String, ?> options, int width, int context) {
    return new StepChecks(provider, options, width, context, 1234L);
  }

  public RecurrentTokenMixer mixer() {
    return mixer;
  }

  /** Number of state tensors the mixer carries. */
  public int stateCount() {
    return stateInputs.size();
  }

  public List<String> parameterNames() {
    List<String> names = new ArrayList<>();
    store.all().forEach(p -> names.add(p.name().substring("mixer/".length())));
    return names;
  }

  /** Parameter values by short name (the part after {@code mixer/}). */
  public Map<String, float[]> parameters() {
    Map<String, float[]> out = new LinkedHashMap<>();
    store.read(session).forEach((k, v) -> out.put(k.substring("mixer/".length()), v));
    return out;
  }

  public void set(String name, float[] values) {
    store.set(session, Map.of("mixer/" + name, values));
  }

  /** Sets every parameter to N(0, std^2) values. */
  public void randomize(Random rnd, double std) {
    for (String name : parameterNames()) {
      float[] v = parameters().get(name);
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (rnd.nextGaussian() * std);
      }
      set(name, v);
    }
  }

  /** {@code apply(x)} for {@code x [B][T][C]}. */
  public float[][][] apply(float[][][] x) {
    try (TFloat32 in = MixerHarness.tensor(x); Result r = session.runner().feed(input, in).fetch(applied).run()) {
      return MixerHarness.unflatten((TFloat32) r.get(0), x.length, x[0].length);
    }
  }

  /** Prefill on {@code x[:, :prompt]}, then one step per position {@code prompt .. T-1}. */
  public Generation generate(float[][][] x, int promptLength) {
    int b = x.length, t = x[0].length;
    if (promptLength < 1 || promptLength > t) {
      throw new IllegalArgumentException("prompt length must be in 1.." + t + ", got " + promptLength);
    }
    float[][][] out = new float[b][t][];
    List<List<long[]>> shapes = new ArrayList<>();
    Result previous;
    try (TFloat32 in = MixerHarness.tensor(prefix(x, promptLength))) {
      Session.Runner runner = session.runner().feed(prompt, in).fetch(prefill.output());
      prefill.state().forEach(runner::fetch);
      previous = runner.run();
    }
    try {
      float[][][] y = MixerHarness.unflatten((TFloat32) previous.get(0), b, promptLength);
      for (int bi = 0; bi < b; bi++) {
        System.arraycopy(y[bi], 0, out[bi], 0, promptLength);
      }
      shapes.add(stateShapes(previous));
      for (int pos = promptLength; pos < t; pos++) {
        float[] flat = new float[b * width];
        for (int bi = 0; bi < b; bi++) {
          System.arraycopy(x[bi][pos], 0, flat, bi * width, width);
        }
        Result next;
        try (TFloat32 xt = TFloat32.tensorOf(Shape.of(b, width), DataBuffers.of(flat, true, false));
            TInt32 p = TInt32.scalarOf(pos)) {
          Session.Runner runner = session.runner().feed(token, xt).feed(position, p);
          for (int i = 0; i < stateInputs.size(); i++) {
            runner.feed(stateInputs.get(i), previous.get(i + 1));
          }
          runner.fetch(step.output());
          step.state().forEach(runner::fetch);
          next = runner.run();
        }
        previous.close();
        previous = next;
        float[] yt = MixerHarness.flat((TFloat32) previous.get(0));
        assertEquals(b * width, yt.length, "step output at position " + pos + " is not [B, C]");
        for (int bi = 0; bi < b; bi++) {
          out[bi][pos] = java.util.Arrays.copyOfRange(yt, bi * width, (bi + 1) * width);
        }
        shapes.add(stateShapes(previous));
      }
    } finally {
      previous.close();
    }
    return new Generation(out, shapes);
  }

  private List<long[]> stateShapes(Result r) {
    List<long[]> shapes = new ArrayList<>();
    for (int i = 0; i < stateInputs.size(); i++) {
      shapes.add(r.get(i + 1).shape().asArray());
    }
    return shapes;
  }

  /**
   * For prompt lengths 1, T/2 and T-1: prefill plus steps give {@code apply(x)} at every position,
   * within {@code tol * (1 + |expected|)}. {@code x} needs {@code T >= 2}.
   */
  public void assertMatchesApply(float[][][] x, double tol) {
    int t = x[0].length;
    assertTrue(t >= 2, "the check needs T >= 2 to take a step");
    float[][][] expected = apply(x);
    for (int promptLength : new TreeSet<>(List.of(1, Math.max(1, t / 2), t - 1))) {
      float[][][] got = generate(x, promptLength).outputs();
      try {
        MixerHarness.assertAllClose(expected, got, tol);
      } catch (AssertionError e) {
        throw new AssertionError("prefill of " + promptLength + " positions then steps: " + e.getMessage(), e);
      }
    }
  }

  /**
   * Step outputs at positions {@code <= cut} are bit-identical when the inputs after {@code cut}
   * change, for every cut from the prompt length to T-2 (a generation only reads the past).
   */
  public void assertStepsIgnoreLaterInputs(float[][][] x, int promptLength, long seed) {
    float[][][] base = generate(x, promptLength).outputs();
    Random rnd = new Random(seed);
    int t = x[0].length;
    for (int cut = promptLength; cut < t - 1; cut++) {
      float[][][] changed = MixerHarness.copy(x);
      for (float[][] seq : changed) {
        for (int s = cut + 1; s < t; s++) {
          for (int ch = 0; ch < width; ch++) {
            seq[s][ch] = (float) (rnd.nextGaussian() * 3);
          }
        }
      }
      float[][][] y = generate(changed, promptLength).outputs();
      for (int bi = 0; bi < x.length; bi++) {
        for (int s = 0; s <= cut; s++) {
          for (int ch = 0; ch < width; ch++) {
            assertEquals(Float.floatToIntBits(base[bi][s][ch]), Float.floatToIntBits(y[bi][s][ch]),
                "generated output at position " + s + " changed when inputs after position " + cut + " changed");
          }
        }
      }
    }
  }

  /** {@code x[:, :t]}. */
  public static float[][][] prefix(float[][][] x, int t) {
    float[][][] y = new float[x.length][t][];
    for (int b = 0; b < x.length; b++) {
      for (int s = 0; s < t; s++) {
        y[b][s] = x[b][s].clone();
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
