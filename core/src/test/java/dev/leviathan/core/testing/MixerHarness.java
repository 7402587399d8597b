package dev.leviathan.core.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.model.Dropout;
import dev.leviathan.core.model.Gradients;
import dev.leviathan.core.model.MixerContext;
import dev.leviathan.core.model.Parameter;
import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.core.spi.ChannelMixerProvider;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.MixerProvider;
import dev.leviathan.core.spi.Parameters;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * Builds one mixer alone in a graph, so tests can run it on plain arrays, read and set its
 * parameters, check causality and compare its gradients with finite differences.
 *
 * <p>Arrays are {@code [B][T][C]}. Parameters are initialised from {@code seed} like in a model.
 */
public final class MixerHarness implements AutoCloseable {
  private final Graph graph = new Graph();
  private final Session session;
  private final Ops tf;
  private final ParameterStore store;
  private final Placeholder<TFloat32> input;
  private final Operand<TFloat32> output;
  private final Placeholder<TFloat32> weights;
  private final Operand<TFloat32> objective;
  private final List<Parameter> params;
  private final List<Operand<TFloat32>> paramGrads;
  private final Operand<TFloat32> inputGrad;
  private final Dropout dropout;
  public final int width;
  public final int context;

  private MixerHarness(MixerProvider provider, Map<String, ?> rawOptions, int width, int context, int layers,
      long seed, boolean gradients) {
    this.width = width;
    this.context = context;
    this.tf = Ops.create(graph);
    this.store = new ParameterStore(layers);
    this.dropout = new Dropout(tf);
    Ops scoped = tf.withSubScope("mixer");
    Parameters p = store.scoped(scoped, "mixer");
    LayerContext ctx = new MixerContext(scoped, width, context, 0, layers, p, dropout);
    MixerOptions options = MixerOptions.resolve(provider, rawOptions);
    UnaryOperator<Operand<TFloat32>> fn;
    if (provider instanceof TokenMixerProvider t) {
      fn = t.create(ctx, options)::apply;
    } else {
      fn = ((ChannelMixerProvider) provider).create(ctx, options)::apply;
    }
    input = tf.withName("x").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, width)));
    output = fn.apply(input);
    weights = tf.withName("r").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, width)));
    objective = tf.sum(tf.math.mul(output, weights), tf.constant(new int[] {0, 1, 2}));
    params = store.all();
    if (gradients) {
      paramGrads = params.isEmpty() ? List.of() : Gradients.of(tf, objective, params);
      inputGrad = tf.gradients(objective, List.of(input)).dy(0);
    } else {
      paramGrads = List.of();
      inputGrad = null;
    }
    session = new Session(graph);
    store.initialize(session, seed);
  }

  public static MixerHarness of(MixerProvider provider, Map<String, ?> options, int width, int context) {
    return new MixerHarness(provider, options, width, context, 2, 1234L, true);
  }

  public static MixerHarness of(MixerProvider provider, Map<String, ?> options, int width, int context, long seed) {
    return new MixerHarness(provider, options, width, context, 2, seed, true);
  }

  /** Without gradient ops (for mixers or sizes where only the forward pass is tested). */
  public static MixerHarness forwardOnly(MixerProvider provider, Map<String, ?> options, int width, int context) {
    return new MixerHarness(provider, options, width, context, 2, 1234L, false);
  }

  public Ops tf() {
    return tf;
  }

  /** Runs the mixer on {@code x [B][T][C]}. */
  public float[][][] run(float[][][] x) {
    try (TFloat32 in = tensor(x); Result r = session.runner().feed(input, in).fetch(output).run()) {
      return unflatten((TFloat32) r.get(0), x.length, x[0].length);
    }
  }

  /** Parameter values by short name (the part after {@code mixer/}). */
  public Map<String, float[]> parameters() {
    Map<String, float[]> out = new LinkedHashMap<>();
    store.read(session).forEach((k, v) -> out.put(k.substring("mixer/".length()), v));
    return out;
  }

  /** Shape of a parameter by short name. */
  public long[] shape(String name) {
    return store.get("mixer/" + name).shape();
  }

  public void set(String name, float[] values) {
    store.set(session, Map.of("mixer/" + name, values));
  }

  public List<String> parameterNames() {
    List<String> names = new ArrayList<>();
    params.forEach(p -> names.add(p.name().substring("mixer/".length())));
    return names;
  }

  /** Number of scalars in all parameters. */
  public long parameterCount() {
    return store.count();
  }

  /** Objective {@code sum(y ⊙ r)} at the current parameters. */
  public double objective(float[][][] x, float[][][] r) {
    try (TFloat32 in = tensor(x); TFloat32 rt = tensor(r);
        Result res = session.runner().feed(input, in).feed(weights, rt).fetch(objective).run()) {
      return ((TFloat32) res.get(0)).getFloat();
    }
  }

  /**
   * Compares analytic gradients of {@code sum(y ⊙ r)} with central finite differences, for the input
   * and for up to {@code perTensor} coordinates of every parameter. Fails with the worst mismatch.
   */
  public void checkGradients(float[][][] x, float[][][] r, double eps, double tolerance, int perTensor, long seed) {
    Random rnd = new Random(seed);
    Map<String, float[]> grads = new LinkedHashMap<>();
    float[] dx;
    try (TFloat32 in = tensor(x); TFloat32 rt = tensor(r)) {
      Session.Runner runner = session.runner().feed(input, in).feed(weights, rt).fetch(inputGrad);
      paramGrads.forEach(runner::fetch);
      try (Result res = runner.run()) {
        dx = flat((TFloat32) res.get(0));
        for (int i = 0; i < params.size(); i++) {
          float[] g = flat((TFloat32) res.get(i + 1));
          for (float f : g) {
            assertTrue(Float.isFinite(f), "non-finite gradient for " + params.get(i).name());
          }
          grads.put(params.get(i).name().substring("mixer/".length()), g);
        }
      }
    }
    // input coordinates
    int b = x.length, t = x[0].length, c = x[0][0].length;
    for (int n = 0; n < perTensor; n++) {
      int bi = rnd.nextInt(b), ti = rnd.nextInt(t), ci = rnd.nextInt(c);
      float keep = x[bi][ti][ci];
      x[bi][ti][ci] = (float) (keep + eps);
      double plus = objective(x, r);
      x[bi][ti][ci] = (float) (keep - eps);
      double minus = objective(x, r);
      x[bi][ti][ci] = keep;
      double numeric = (plus - minus) / (2 * eps);
      double analytic = dx[(bi * t + ti) * c + ci];
      assertClose("input[" + bi + "," + ti + "," + ci + "]", numeric, analytic, tolerance);
    }
    Map<String, float[]> values = parameters();
    for (Map.Entry<String, float[]> e : grads.entrySet()) {
      float[] v = values.get(e.getKey()).clone();
      for (int n = 0; n < Math.min(perTensor, v.length); n++) {
        int i = rnd.nextInt(v.length);
        float keep = v[i];
        v[i] = (float) (keep + eps);
        set(e.getKey(), v);
        double plus = objective(x, r);
        v[i] = (float) (keep - eps);
        set(e.getKey(), v);
        double minus = objective(x, r);
        v[i] = keep;
        set(e.getKey(), v);
        double numeric = (plus - minus) / (2 * eps);
        assertClose(e.getKey() + "[" + i + "]", numeric, e.getValue()[i], tolerance);
      }
    }
  }

  private static void assertClose(String what, double numeric, double analytic, double tolerance) {
    double err = Math.abs(numeric - analytic) / Math.max(1.0, Math.abs(numeric));
    assertTrue(err <= tolerance,
        "gradient of " + what + ": finite difference " + numeric + " vs analytic " + analytic);
  }

  /**
   * Asserts causality: changing inputs at positions > t leaves outputs at positions <= t
   * bit-identical, for every t.
   */
  public void assertCausal(float[][][] x, long seed) {
    float[][][] base = run(x);
    Random rnd = new Random(seed);
    int t = x[0].length;
    for (int cut = 0; cut < t - 1; cut++) {
      float[][][] changed = copy(x);
      for (float[][] seq : changed) {
        for (int s = cut + 1; s < t; s++) {
          for (int ch = 0; ch < seq[s].length; ch++) {
            seq[s][ch] = (float) (rnd.nextGaussian() * 3);
          }
        }
      }
      float[][][] y = run(changed);
      for (int bi = 0; bi < x.length; bi++) {
        for (int s = 0; s <= cut; s++) {
          for (int ch = 0; ch < y[bi][s].length; ch++) {
            assertEquals(Float.floatToIntBits(base[bi][s][ch]), Float.floatToIntBits(y[bi][s][ch]),
                "output at position " + s + " changed when inputs after position " + cut + " changed");
          }
        }
      }
    }
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }

  // ---------- array helpers ----------

  public static float[][][] randn(Random rnd, int b, int t, int c, double scale) {
    float[][][] x = new float[b][t][c];
    for (float[][] m : x) {
      for (float[] row : m) {
        for (int i = 0; i < c; i++) {
          row[i] = (float) (rnd.nextGaussian() * scale);
        }
      }
    }
    return x;
  }

  public static float[][][] copy(float[][][] x) {
    float[][][] y = new float[x.length][][];
    for (int i = 0; i < x.length; i++) {
      y[i] = new float[x[i].length][];
      for (int j = 0; j < x[i].length; j++) {
        y[i][j] = x[i][j].clone();
      }
    }
    return y;
  }

  /** Element-wise comparison with an absolute-plus-relative tolerance. */
  public static void assertAllClose(float[][][] expected, float[][][] actual, double tol) {
    for (int b = 0; b < expected.length; b++) {
      for (int t = 0; t < expected[b].length; t++) {
        for (int c = 0; c < expected[b][t].length; c++) {
          double e = expected[b][t][c], a = actual[b][t][c];
          assertTrue(Math.abs(e - a) <= tol * (1 + Math.abs(e)),
              "at [" + b + "," + t + "," + c + "]: expected " + e + " but was " + a);
        }
      }
    }
  }

  /** Row {@code i} of a row-major {@code [rows, cols]} matrix as a copy. */
  public static double[][] matrix(float[] flat, long[] shape) {
    int rows = (int) shape[0], cols = (int) shape[1];
    double[][] m = new double[rows][cols];
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        m[i][j] = flat[i * cols + j];
      }
    }
    return m;
  }

  static TFloat32 tensor(float[][][] x) {
    int b = x.length, t = x[0].length, c = x[0][0].length;
    float[] flat = new float[b * t * c];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < t; j++) {
        System.arraycopy(x[i][j], 0, flat, (i * t + j) * c, c);
      }
    }
    return TFloat32.tensorOf(Shape.of(b, t, c), DataBuffers.of(flat, true, false));
  }

  static float[] flat(TFloat32 t) {
    float[] out = new float[(int) t.size()];
    t.copyTo(DataBuffers.of(out, false, false));
    return out;
  }

  static float[][][] unflatten(TFloat32 t, int b, int tt) {
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
}
