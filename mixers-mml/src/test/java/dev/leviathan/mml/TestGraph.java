package dev.leviathan.mml;

import dev.leviathan.core.model.MixerContext;

import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.Parameters;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
 * A graph with a parameter store and a layer context, for tests that need intermediate operands,
 * several outputs or a step function (things {@code MixerHarness} does not expose).
 */
final class TestGraph implements AutoCloseable {
  final Graph graph = new Graph();
  final Ops tf = Ops.create(graph);
  final ParameterStore store = new ParameterStore(2);
  final LayerContext layer;
  private Session session;

  /** A value to feed: row-major {@code values} of {@code shape}. */
  record Feed(Placeholder<TFloat32> placeholder, float[] values, long... shape) {}

  TestGraph(int width, int context) {
    Ops scoped = tf.withSubScope("mixer");
    Parameters params = store.scoped(scoped, "mixer");
    layer = new MixerContext(scoped, width, context, 0, 2, params, null);
  }

  Placeholder<TFloat32> placeholder(String name, long... shape) {
    return tf.withName(name).placeholder(TFloat32.class, Placeholder.shape(Shape.of(shape)));
  }

  /** Creates the session and initialises the parameters (call after the graph is built). */
  void start(long seed) {
    session = new Session(graph);
    store.initialize(session, seed);
  }

  Session session() {
    return session;
  }

  /** Parameter values by short name (without {@code mixer/}). */
  Map<String, float[]> parameters() {
    Map<String, float[]> out = new LinkedHashMap<>();
    store.read(session).forEach((k, v) -> out.put(k.substring("mixer/".length()), v));
    return out;
  }

  void set(String shortName, float[] values) {
    store.set(session, Map.of("mixer/" + shortName, values));
  }

  /** Runs the graph and returns every fetched tensor flattened. */
  List<float[]> run(List<Feed> feeds, List<? extends Operand<TFloat32>> fetches) {
    List<TFloat32> tensors = new ArrayList<>();
    try {
      Session.Runner runner = session.runner();
      for (Feed f : feeds) {
        TFloat32 t = TFloat32.tensorOf(Shape.of(f.shape()), DataBuffers.of(f.values(), true, false));
        tensors.add(t);
        runner.feed(f.placeholder(), t);
      }
      fetches.forEach(runner::fetch);
      try (Result r = runner.run()) {
        List<float[]> out = new ArrayList<>();
        for (int i = 0; i < fetches.size(); i++) {
          TFloat32 t = (TFloat32) r.get(i);
          float[] v = new float[(int) t.size()];
          t.copyTo(DataBuffers.of(v, false, false));
          out.add(v);
        }
        return out;
      }
    } finally {
      tensors.forEach(TFloat32::close);
    }
  }

  static float[] flatten(float[][][] x) {
    int b = x.length, t = x[0].length, c = x[0][0].length;
    float[] out = new float[b * t * c];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < t; j++) {
        System.arraycopy(x[i][j], 0, out, (i * t + j) * c, c);
      }
    }
    return out;
  }

  static float[][][] unflatten(float[] f, int b, int t) {
    int c = f.length / (b * t);
    float[][][] y = new float[b][t][c];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < t; j++) {
        System.arraycopy(f, (i * t + j) * c, y[i][j], 0, c);
      }
    }
    return y;
  }

  @Override
  public void close() {
    if (session != null) {
      session.close();
    }
    graph.close();
  }
}
