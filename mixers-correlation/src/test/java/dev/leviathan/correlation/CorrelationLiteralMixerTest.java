package dev.leviathan.correlation;

import dev.leviathan.core.model.MixerContext;

import static dev.leviathan.core.testing.MixerHarness.assertAllClose;
import static dev.leviathan.core.testing.MixerHarness.copy;
import static dev.leviathan.core.testing.MixerHarness.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.model.Gradients;
import dev.leviathan.core.model.LanguageModel;
import dev.leviathan.core.model.ResolvedModel;
import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.model.Parameter;
import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.core.spi.InvalidMixerOptionException;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.Parameters;
import dev.leviathan.core.spi.TokenMixerProvider;
import dev.leviathan.core.testing.MixerHarness;
import dev.leviathan.core.testing.ModelChecks;
import dev.leviathan.core.testing.TinyTraining;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

class CorrelationLiteralMixerTest {
  private final CorrelationLiteralMixer provider = new CorrelationLiteralMixer();

  /**
   * {@code scipy.signal.correlate(q, k, mode='same')} for two {@code [N1][N2]} arrays, by the
   * definition: {@code S[m][n] = sum_{i,j} q[i + m - floor(N1/2)][j + n - floor(N2/2)] k[i][j]}.
   */
  static double[][] correlate2dSame(double[][] q, double[][] k) {
    int t = q.length, d = q[0].length;
    double[][] s = new double[t][d];
    for (int m = 0; m < t; m++) {
      for (int n = 0; n < d; n++) {
        int a = m - t / 2, b = n - d / 2;
        double acc = 0;
        for (int i = 0; i < t; i++) {
          for (int j = 0; j < d; j++) {
            if (i + a >= 0 && i + a < t && j + b >= 0 && j + b < d) {
              acc += q[i + a][j + b] * k[i][j];
            }
          }
        }
        s[m][n] = acc;
      }
    }
    return s;
  }

  /** {@code S K^T} for one (batch, head). */
  static double[][] timesKeysTransposed(double[][] s, double[][] k) {
    int t = k.length, d = k[0].length;
    double[][] out = new double[t][t];
    for (int i = 0; i < t; i++) {
      for (int j = 0; j < t; j++) {
        for (int e = 0; e < d; e++) {
          out[i][j] += s[i][e] * k[j][e];
        }
      }
    }
    return out;
  }

  /** The notebook's scores per (batch, head), S taken from the current q and k. */
  static Loops.Scores literalScores() {
    return (b, h, q, k) -> timesKeysTransposed(correlate2dSame(q, k), k);
  }

  @Test
  void referenceCorrelationAgreesWithScipy() {
    // expected values printed by scipy.signal.correlate(Q, K, mode='same') (SciPy 1.17)
    double[][] s1 = correlate2dSame(
        new double[][] {{1, -2, 0, 3}, {2, 1, -1, 0}, {0, 4, 1, -3}},
        new double[][] {{2, 0, -1, 1}, {1, 3, 0, -2}, {-1, 1, 2, 0}});
    assertEquals(List.of(List.of(8.0, 7.0, -14.0, -4.0), List.of(-5.0, 18.0, 16.0, -18.0),
        List.of(-9.0, -4.0, 23.0, 9.0)), rows(s1));
    double[][] s2 = correlate2dSame(
        new double[][] {{1, 2, -1}, {0, -3, 2}, {4, 1, 0}, {-2, 0, 1}},
        new double[][] {{0, 1, 2}, {-1, 0, 3}, {2, -2, 1}, {1, 1, -1}});
    assertEquals(List.of(List.of(3.0, -8.0, 5.0), List.of(6.0, 9.0, -11.0), List.of(-13.0, 9.0, 5.0),
        List.of(1.0, -6.0, -1.0)), rows(s2));
  }

  private static List<List<Double>> rows(double[][] m) {
    List<List<Double>> out = new ArrayList<>();
    for (double[] row : m) {
      List<Double> r = new ArrayList<>();
      for (double v : row) {
        r.add(v);
      }
      out.add(r);
    }
    return out;
  }

  @Test
  void matchesLoopReferenceForOddAndEvenSizes() {
    // (width, heads, T): head widths 3 and 4, odd and even T, T below the context
    int[][] cases = {{6, 2, 5}, {8, 2, 6}, {8, 1, 7}, {8, 4, 4}};
    for (int[] cs : cases) {
      int width = cs[0], heads = cs[1], t = cs[2];
      try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", heads), width, 8)) {
        Random rnd = new Random(width * 100 + heads * 10 + t);
        Loops.randomize(h, rnd, 0.3);
        float[][][] x = randn(rnd, 3, t, width, 1.0);
        assertAllClose(Loops.mix(x, h.parameters(), heads, true, false, literalScores()), h.run(x), 1e-5);
      }
    }
  }

  @Test
  void matchesLoopReferenceWithoutBias() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2, "bias", "off"), 6, 6)) {
      assertEquals(List.of("w_qkv", "w_o"), h.parameterNames());
      Random rnd = new Random(3);
      Loops.randomize(h, rnd, 0.3);
      float[][][] x = randn(rnd, 2, 6, 6, 1.0);
      assertAllClose(Loops.mix(x, h.parameters(), 2, false, false, literalScores()), h.run(x), 1e-5);
    }
  }

  @Test
  void declaresAndIsNonCausal() {
    assertFalse(provider.causal());
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2), 8, 6)) {
      Random rnd = new Random(5);
      Loops.randomize(h, rnd, 0.3);
      float[][][] x = randn(rnd, 1, 6, 8, 1.0);
      float[][][] changed = copy(x);
      for (int c = 0; c < 8; c++) {
        changed[0][5][c] += 1f;
      }
      float[][][] y = h.run(x), y2 = h.run(changed);
      double diff = 0;
      for (int c = 0; c < 8; c++) {
        diff = Math.max(diff, Math.abs(y[0][0][c] - y2[0][0][c]));
      }
      assertTrue(diff > 1e-4, "changing the last position must change the first output; change " + diff);
    }
  }

  @Test
  void samplesOfABatchDoNotLeakIntoEachOther() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("heads", 2), 8, 6)) {
      Random rnd = new Random(6);
      Loops.randomize(h, rnd, 0.3);
      float[][][] x = randn(rnd, 3, 6, 8, 1.0);
      float[][][] changed = copy(x);
      changed[1] = randn(rnd, 1, 6, 8, 3.0)[0];
      float[][][] y = h.run(x), y2 = h.run(changed);
      for (int b : new int[] {0, 2}) {
        for (int t = 0; t < 6; t++) {
          for (int c = 0; c < 8; c++) {
            assertEquals(Float.floatToIntBits(y[b][t][c]), Float.floatToIntBits(y2[b][t][c]),
                "sample " + b + " changed when sample 1 changed");
          }
        }
      }
    }
  }

  /**
   * The gradient graph builds (every parameter is reached), the query block of W_qkv/b_qkv gets an
   * exactly zero gradient although the output depends on it, and every analytic gradient (input and
   * parameters) equals the finite difference of the loop reference with S held fixed, which is what
   * the stop-gradient means.
   */
  @Test
  void gradientsFollowTheStopGradientPaths() {
    int width = 6, heads = 2, t = 5, batch = 2;
    try (GradientProbe probe = new GradientProbe(provider, Map.of("heads", heads), width, t)) {
      Random rnd = new Random(21);
      Map<String, float[]> p = probe.parameters();
      p.replaceAll((name, v) -> {
        float[] w = v.clone();
        for (int i = 0; i < w.length; i++) {
          w[i] = (float) (rnd.nextGaussian() * 0.4);
        }
        return w;
      });
      probe.set(p);
      float[][][] x = randn(rnd, batch, t, width, 1.0);
      float[][][] r = randn(rnd, batch, t, width, 1.0);
      Map<String, float[]> grads = probe.gradients(x, r);

      // S frozen at the current parameters and input
      Map<String, double[][]> frozen = new HashMap<>();
      Loops.mixDouble(x, p, heads, true, false, (b, h, q, k) -> {
        double[][] s = correlate2dSame(q, k);
        frozen.put(b + "/" + h, s);
        return timesKeysTransposed(s, k);
      });
      Loops.Scores frozenScores = (b, h, q, k) -> timesKeysTransposed(frozen.get(b + "/" + h), k);

      // query columns 0..C-1 of w_qkv and b_qkv: exactly zero
      float[] gw = grads.get("w_qkv"), gb = grads.get("b_qkv");
      for (int i = 0; i < width; i++) {
        for (int o = 0; o < width; o++) {
          assertEquals(0f, gw[i * 3 * width + o], "query weight gradient [" + i + "," + o + "]");
        }
        assertEquals(0f, gb[i], "query bias gradient [" + i + "]");
      }
      // ... although the forward pass depends on them (the original's untrained W_q)
      double queryEffect = 0;
      for (int i = 0; i < width; i++) {
        queryEffect = Math.max(queryEffect, Math.abs(
            finiteDifference(p, "w_qkv", i * 3 * width, x, r, heads, literalScores())));
      }
      assertTrue(queryEffect > 1e-3, "the output must depend on W_q, largest effect " + queryEffect);

      int checked = 0;
      for (Map.Entry<String, float[]> e : grads.entrySet()) {
        for (int i = 0; i < e.getValue().length; i++) {
          double numeric = finiteDifference(p, e.getKey(), i, x, r, heads, frozenScores);
          assertClose(e.getKey() + "[" + i + "]", numeric, e.getValue()[i]);
          checked++;
        }
      }
      assertEquals(width * 3 * width + 3 * width + width * width + width, checked);

      float[] dx = probe.inputGradient(x, r);
      for (int b = 0; b < batch; b++) {
        for (int s = 0; s < t; s++) {
          for (int c = 0; c < width; c++) {
            float keep = x[b][s][c];
            float up = (float) (keep + 1e-3), down = (float) (keep - 1e-3);
            x[b][s][c] = up;
            double plus = objective(Loops.mixDouble(x, p, heads, true, false, frozenScores), r);
            x[b][s][c] = down;
            double minus = objective(Loops.mixDouble(x, p, heads, true, false, frozenScores), r);
            x[b][s][c] = keep;
            assertClose("x[" + b + "," + s + "," + c + "]", (plus - minus) / ((double) up - down),
                dx[(b * t + s) * width + c]);
          }
        }
      }
    }
  }

  private static double finiteDifference(Map<String, float[]> p, String name, int i, float[][][] x, float[][][] r,
      int heads, Loops.Scores scores) {
    float[] v = p.get(name);
    float keep = v[i];
    float up = (float) (keep + 1e-3), down = (float) (keep - 1e-3);
    v[i] = up;
    double plus = objective(Loops.mixDouble(x, p, heads, true, false, scores), r);
    v[i] = down;
    double minus = objective(Loops.mixDouble(x, p, heads, true, false, scores), r);
    v[i] = keep;
    return (plus - minus) / ((double) up - down);
  }

  private static double objective(double[][][] y, float[][][] r) {
    double acc = 0;
    for (int b = 0; b < y.length; b++) {
      for (int t = 0; t < y[b].length; t++) {
        for (int c = 0; c < y[b][t].length; c++) {
          acc += y[b][t][c] * r[b][t][c];
        }
      }
    }
    return acc;
  }

  private static void assertClose(String what, double numeric, double analytic) {
    assertTrue(Math.abs(numeric - analytic) <= 1e-3 * Math.max(1.0, Math.abs(numeric)),
        "gradient of " + what + ": finite difference (S fixed) " + numeric + " vs analytic " + analytic);
  }

  @Test
  void aModelWithItIsNonCausalAndEveryParameterGetsAGradient() {
    ModelConfig config = ModelConfig.builder().vocabSize(7).context(6).width(8).layers(2)
        .tokenMixer(MixerSpec.of("correlation-literal", Map.of("heads", 2)))
        .channelMixer(MixerSpec.of("mlp")).build();
    try (Graph g = new Graph()) {
      LanguageModel model = new LanguageModel(Ops.create(g), ResolvedModel.resolve(config, TinyTraining.registry(provider)), new ParameterStore(2));
      assertFalse(model.causal());
    }
    try (ModelChecks m = new ModelChecks(TinyTraining.registry(provider), config, 3)) {
      Random rnd = new Random(2);
      m.assertAllGradientsFinite(m.randomTokens(rnd, 2, 6), m.randomTokens(rnd, 2, 6));
    }
  }

  @Test
  void rejectsHeadsThatDoNotDivideWidth() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("heads", 4), 6, 4));
    assertEquals("mixer 'correlation-literal': option 'heads' = 4 is invalid: it must divide the width 6"
        + " (allowed: 1, 2, 3, 6)", e.getMessage());
    InvalidMixerOptionException lags = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("lags", 1), 6, 4));
    assertEquals("mixer 'correlation-literal' has no option 'lags' (known options: heads, bias)", lags.getMessage());
  }

  /**
   * One mixer alone in a graph with the analytic gradients of {@code sum(y ⊙ r)} with respect to
   * every parameter and the input, built through {@link Gradients#of} like the trainer does.
   */
  static final class GradientProbe implements AutoCloseable {
    private final Graph graph = new Graph();
    private final Session session;
    private final ParameterStore store = new ParameterStore(2);
    private final Placeholder<TFloat32> input;
    private final Placeholder<TFloat32> weights;
    private final List<Operand<TFloat32>> paramGrads;
    private final Operand<TFloat32> inputGrad;
    private final int width;

    GradientProbe(TokenMixerProvider provider, Map<String, ?> options, int width, int context) {
      this.width = width;
      Ops tf = Ops.create(graph);
      Ops scoped = tf.withSubScope("mixer");
      Parameters params = store.scoped(scoped, "mixer");
      LayerContext ctx = new MixerContext(scoped, width, context, 0, 2, params, null);
      var mixer = provider.create(ctx, MixerOptions.resolve(provider, options));
      input = tf.withName("x").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, width)));
      weights = tf.withName("r").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, width)));
      Operand<TFloat32> objective = tf.sum(tf.math.mul(mixer.apply(input), weights), tf.constant(new int[] {0, 1, 2}));
      paramGrads = Gradients.of(tf, objective, store.all());
      inputGrad = tf.gradients(objective, List.of(input)).dy(0);
      session = new Session(graph);
      store.initialize(session, 77L);
    }

    Map<String, float[]> parameters() {
      Map<String, float[]> out = new LinkedHashMap<>();
      store.read(session).forEach((k, v) -> out.put(k.substring("mixer/".length()), v));
      return out;
    }

    void set(Map<String, float[]> values) {
      Map<String, float[]> full = new LinkedHashMap<>();
      values.forEach((k, v) -> full.put("mixer/" + k, v));
      store.set(session, full);
    }

    Map<String, float[]> gradients(float[][][] x, float[][][] r) {
      Map<String, float[]> out = new LinkedHashMap<>();
      try (TFloat32 xt = tensor(x); TFloat32 rt = tensor(r)) {
        Session.Runner runner = session.runner().feed(input, xt).feed(weights, rt);
        paramGrads.forEach(runner::fetch);
        try (Result res = runner.run()) {
          List<Parameter> ps = store.all();
          for (int i = 0; i < ps.size(); i++) {
            out.put(ps.get(i).name().substring("mixer/".length()), flat((TFloat32) res.get(i)));
          }
        }
      }
      return out;
    }

    float[] inputGradient(float[][][] x, float[][][] r) {
      try (TFloat32 xt = tensor(x); TFloat32 rt = tensor(r);
          Result res = session.runner().feed(input, xt).feed(weights, rt).fetch(inputGrad).run()) {
        return flat((TFloat32) res.get(0));
      }
    }

    private TFloat32 tensor(float[][][] x) {
      int b = x.length, t = x[0].length;
      float[] flat = new float[b * t * width];
      for (int i = 0; i < b; i++) {
        for (int j = 0; j < t; j++) {
          System.arraycopy(x[i][j], 0, flat, (i * t + j) * width, width);
        }
      }
      return TFloat32.tensorOf(Shape.of(b, t, width), DataBuffers.of(flat, true, false));
    }

    private static float[] flat(TFloat32 t) {
      float[] out = new float[(int) t.size()];
      t.copyTo(DataBuffers.of(out, false, false));
      return out;
    }

    @Override
    public void close() {
      session.close();
      graph.close();
    }
  }
}
