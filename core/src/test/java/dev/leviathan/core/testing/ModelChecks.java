package dev.leviathan.core.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.model.Gradients;
import dev.leviathan.core.model.LanguageModel;
import dev.leviathan.core.model.ResolvedModel;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.model.Parameter;
import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.core.registry.MixerRegistry;
import java.util.List;
import java.util.Map;
import java.util.Random;
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

/** Whole-model checks any mixer can reuse: gradients of every parameter, finite differences, causality. */
public final class ModelChecks implements AutoCloseable {
  private final Graph graph = new Graph();
  private final Session session;
  private final ParameterStore store;
  private final Placeholder<TInt32> tokens;
  private final Placeholder<TInt32> targets;
  private final Operand<TFloat32> logits;
  private final Operand<TFloat32> loss;
  private final List<Operand<TFloat32>> grads;
  private final int vocab;

  public ModelChecks(MixerRegistry registry, ModelConfig config, long seed) {
    Ops tf = Ops.create(graph);
    store = new ParameterStore(config.layers());
    LanguageModel model = new LanguageModel(tf, ResolvedModel.resolve(config, registry), store);
    tokens = tf.withName("tokens").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, -1)));
    targets = tf.withName("targets").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, -1)));
    logits = model.logits(tokens);
    loss = model.loss(logits, targets);
    grads = Gradients.of(tf, loss, store.all());
    vocab = config.vocabSize();
    session = new Session(graph);
    store.initialize(session, seed);
  }

  public ParameterStore store() {
    return store;
  }

  public Session session() {
    return session;
  }

  /**
   * Adds N(0, std^2) noise to every parameter, moving them away from the 0.02-scale initialisation so
   * that finite differences stand well above float32 rounding.
   */
  public void perturbParameters(Random rnd, double std) {
    Map<String, float[]> values = store.read(session);
    values.replaceAll((k, v) -> {
      float[] w = v.clone();
      for (int i = 0; i < w.length; i++) {
        w[i] += (float) (rnd.nextGaussian() * std);
      }
      return w;
    });
    store.set(session, values);
  }

  public int[][] randomTokens(Random rnd, int b, int t) {
    int[][] x = new int[b][t];
    for (int[] row : x) {
      for (int i = 0; i < t; i++) {
        row[i] = rnd.nextInt(vocab);
      }
    }
    return x;
  }

  /** Logits {@code [B][T][V]}. */
  public float[][][] logits(int[][] x) {
    try (TInt32 xt = tensor(x); Result r = session.runner().feed(tokens, xt).fetch(logits).run()) {
      return MixerHarness.unflatten((TFloat32) r.get(0), x.length, x[0].length);
    }
  }

  public double loss(int[][] x, int[][] y) {
    try (TInt32 xt = tensor(x); TInt32 yt = tensor(y);
        Result r = session.runner().feed(tokens, xt).feed(targets, yt).fetch(loss).run()) {
      return ((TFloat32) r.get(0)).getFloat();
    }
  }

  /** Every parameter gets a finite gradient that is not identically zero. */
  public Map<String, float[]> assertAllGradientsFinite(int[][] x, int[][] y) {
    Map<String, float[]> out = new java.util.LinkedHashMap<>();
    try (TInt32 xt = tensor(x); TInt32 yt = tensor(y)) {
      Session.Runner r = session.runner().feed(tokens, xt).feed(targets, yt);
      grads.forEach(r::fetch);
      try (Result res = r.run()) {
        List<Parameter> ps = store.all();
        for (int i = 0; i < ps.size(); i++) {
          float[] g = MixerHarness.flat((TFloat32) res.get(i));
          boolean nonZero = false;
          for (float f : g) {
            assertTrue(Float.isFinite(f), "non-finite gradient in " + ps.get(i).name());
            nonZero |= f != 0f;
          }
          assertTrue(nonZero, "all-zero gradient for " + ps.get(i).name());
          out.put(ps.get(i).name(), g);
        }
      }
    }
    return out;
  }

  /** Central finite differences of the loss against the analytic gradient for a few coordinates of every parameter. */
  public void checkGradients(int[][] x, int[][] y, double eps, double tol, int perTensor, long seed) {
    Map<String, float[]> g = assertAllGradientsFinite(x, y);
    Map<String, float[]> values = store.read(session);
    Random rnd = new Random(seed);
    for (Map.Entry<String, float[]> e : g.entrySet()) {
      float[] v = values.get(e.getKey()).clone();
      for (int n = 0; n < Math.min(perTensor, v.length); n++) {
        int i = rnd.nextInt(v.length);
        float keep = v[i];
        v[i] = (float) (keep + eps);
        store.set(session, Map.of(e.getKey(), v));
        double plus = loss(x, y);
        v[i] = (float) (keep - eps);
        store.set(session, Map.of(e.getKey(), v));
        double minus = loss(x, y);
        v[i] = keep;
        store.set(session, Map.of(e.getKey(), v));
        double numeric = (plus - minus) / (2 * eps);
        double analytic = e.getValue()[i];
        assertTrue(Math.abs(numeric - analytic) <= tol * Math.max(1e-2, Math.abs(numeric)) + 2e-4,
            "d loss / d " + e.getKey() + "[" + i + "]: finite difference " + numeric + " vs analytic " + analytic);
      }
    }
  }

  /** Changing tokens after position t leaves the logits at positions <= t bit-identical. */
  public void assertCausal(int[][] x, long seed) {
    float[][][] base = logits(x);
    Random rnd = new Random(seed);
    int t = x[0].length;
    for (int cut = 0; cut < t - 1; cut++) {
      int[][] changed = new int[x.length][];
      for (int b = 0; b < x.length; b++) {
        changed[b] = x[b].clone();
        for (int s = cut + 1; s < t; s++) {
          changed[b][s] = rnd.nextInt(vocab);
        }
      }
      float[][][] y = logits(changed);
      for (int b = 0; b < x.length; b++) {
        for (int s = 0; s <= cut; s++) {
          for (int v = 0; v < vocab; v++) {
            assertEquals(Float.floatToIntBits(base[b][s][v]), Float.floatToIntBits(y[b][s][v]),
                "logit at position " + s + " changed when tokens after " + cut + " changed");
          }
        }
      }
    }
  }

  static TInt32 tensor(int[][] x) {
    int b = x.length, t = x[0].length;
    int[] flat = new int[b * t];
    for (int i = 0; i < b; i++) {
      System.arraycopy(x[i], 0, flat, i * t, t);
    }
    return TInt32.tensorOf(Shape.of(b, t), DataBuffers.of(flat, true, false));
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }
}
