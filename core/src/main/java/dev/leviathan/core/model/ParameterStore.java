package dev.leviathan.core.model;

import dev.leviathan.core.spi.Initializer;
import dev.leviathan.core.spi.Parameters;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Assign;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/**
 * All trainable parameters of a graph. Variables are ordinary {@code VariableV2} ops, so
 * {@code Session.save} writes them. Initial values are computed on the JVM from the seed and each
 * parameter's name, then assigned through one feed per parameter.
 */
public final class ParameterStore {
  private static final Pattern SHORT_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]*");

  private final Map<String, Parameter> parameters = new LinkedHashMap<>();
  private final Map<String, Placeholder<TFloat32>> feeds = new LinkedHashMap<>();
  private final Map<String, Assign<TFloat32>> assigns = new LinkedHashMap<>();
  private final int layers;

  public ParameterStore(int layers) {
    this.layers = layers;
  }

  /** A parameter factory whose variables live under {@code scope} (e.g. {@code block0/mix}). */
  public Parameters scoped(Ops tf, String scope) {
    return new Parameters() {
      @Override
      public Operand<TFloat32> create(String name, long[] shape, Initializer init, boolean decay) {
        return ParameterStore.this.create(tf, scope, name, shape, init, decay);
      }

      @Override
      public int layers() {
        return layers;
      }
    };
  }

  private Operand<TFloat32> create(
      Ops tf, String scope, String name, long[] shape, Initializer init, boolean decay) {
    if (!SHORT_NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(
          "parameter name '" + name + "' in " + scope + " may use letters, digits, '_', '.' and '-' only");
    }
    String full = scope.isEmpty() ? name : scope + "/" + name;
    if (parameters.containsKey(full)) {
      throw new IllegalArgumentException("parameter '" + full + "' is created twice");
    }
    for (long d : shape) {
      if (d < 1) {
        throw new IllegalArgumentException("parameter '" + full + "' has a non-positive dimension");
      }
    }
    Variable<TFloat32> v = tf.withName(name).variable(Shape.of(shape), TFloat32.class);
    if (!v.op().name().equals(full)) {
      throw new IllegalStateException("parameter '" + full + "' got graph name '" + v.op().name() + "'");
    }
    Placeholder<TFloat32> feed =
        tf.withName(name + "_value").placeholder(TFloat32.class, Placeholder.shape(Shape.of(shape)));
    parameters.put(full, new Parameter(full, shape.clone(), init, decay, v));
    feeds.put(full, feed);
    assigns.put(full, tf.withName(name + "_assign").assign(v, feed));
    // Reading through Identity gives consumers a float tensor, not a float_ref: some of TensorFlow's C++
    // gradient functions (Square's, for one) crash the process on a reference-typed input.
    return tf.withName(name + "_read").identity(v);
  }

  public List<Parameter> all() {
    return Collections.unmodifiableList(new ArrayList<>(parameters.values()));
  }

  public Parameter get(String name) {
    Parameter p = parameters.get(name);
    if (p == null) {
      throw new IllegalArgumentException("no parameter '" + name + "'; parameters: " + parameters.keySet());
    }
    return p;
  }

  /** Total number of scalars. */
  public long count() {
    return parameters.values().stream().mapToLong(Parameter::size).sum();
  }

  /** Assigns every parameter its initial value for {@code seed}. */
  public void initialize(Session session, long seed) {
    Map<String, float[]> values = new LinkedHashMap<>();
    for (Parameter p : parameters.values()) {
      float[] v = new float[Math.toIntExact(p.size())];
      p.init().fill(v, p.shape(), new SplittableRandom(streamSeed(seed, p.name())));
      values.put(p.name(), v);
    }
    set(session, values);
  }

  /** Assigns the given values (by full name); parameters not named keep theirs. */
  public void set(Session session, Map<String, float[]> values) {
    List<TFloat32> tensors = new ArrayList<>();
    try {
      Session.Runner runner = session.runner();
      for (Map.Entry<String, float[]> e : values.entrySet()) {
        Parameter p = get(e.getKey());
        if (e.getValue().length != p.size()) {
          throw new IllegalArgumentException(
              "parameter '" + p.name() + "' has " + p.size() + " values, got " + e.getValue().length);
        }
        TFloat32 t = TFloat32.tensorOf(Shape.of(p.shape()), DataBuffers.of(e.getValue(), true, false));
        tensors.add(t);
        runner.feed(feeds.get(p.name()), t).addTarget(assigns.get(p.name()));
      }
      if (!runner.isEmpty()) {
        runner.run().close();
      }
    } finally {
      tensors.forEach(TFloat32::close);
    }
  }

  /** Reads the current values of all parameters. */
  public Map<String, float[]> read(Session session) {
    Map<String, float[]> out = new LinkedHashMap<>();
    List<Parameter> list = all();
    Session.Runner runner = session.runner();
    list.forEach(p -> runner.fetch(p.variable()));
    try (Result r = runner.run()) {
      for (int i = 0; i < list.size(); i++) {
        TFloat32 t = (TFloat32) r.get(i);
        float[] v = new float[Math.toIntExact(t.size())];
        t.copyTo(DataBuffers.of(v, false, false));
        out.put(list.get(i).name(), v);
      }
    }
    return out;
  }

  /** Variables as operands, in creation order. */
  public List<Operand<TFloat32>> variables() {
    List<Operand<TFloat32>> out = new ArrayList<>();
    parameters.values().forEach(p -> out.add(p.variable()));
    return out;
  }

  static long streamSeed(long seed, String name) {
    long h = 1125899906842597L;
    for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
      h = 31 * h + b;
    }
    return new SplittableRandom(seed ^ h).nextLong();
  }
}
