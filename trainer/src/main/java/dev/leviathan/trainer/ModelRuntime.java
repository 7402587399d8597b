package dev.leviathan.trainer;

import dev.leviathan.core.model.Gradients;
import dev.leviathan.core.model.LanguageModel;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.model.ResolvedModel;
import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.trainer.cluster.ClusterTraining;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * One graph and session holding the model, its loss, gradients and AdamW update, and a forward pass
 * for sampling. A training step is one {@code Session.run}: forward, loss, gradients, clipping, update.
 */
public final class ModelRuntime implements AutoCloseable {
  private final Graph graph = new Graph();
  private final Session session;
  private final LanguageModel model;
  private final ParameterStore params;
  private final Placeholder<TInt32> inputs;
  private final Placeholder<TInt32> targets;
  private final Operand<TFloat32> loss;
  private final AdamW adamw;
  /** The full-recompute sampling pass, built on the first {@link #nextLogits} call (null until then). */
  private Placeholder<TInt32> prompt;
  private Operand<TFloat32> lastLogits;
  private final ModelConfig config;
  private final Ops ops;
  private Generator generator;
  private boolean closed;
  /** Data-parallel only: this worker's stop request, and the step's loss and stop request averaged over workers. */
  private final Placeholder<TFloat32> stopRequest;
  private final Operand<TFloat32> stepLoss;
  private final Operand<TFloat32> stopAgreed;
  private final long allReduceBytes;
  private final FiniteCheck finite;

  /**
   * Step result: loss before the update and the gradient norm before clipping; in a data-parallel run both
   * are of the global batch, and {@code stop} says that some worker asked to stop after this step.
   */
  public record StepResult(double loss, double gradNorm, boolean stop) {
    public StepResult(double loss, double gradNorm) {
      this(loss, gradNorm, false);
    }
  }

  /**
   * Builds the runtime for {@code model} with the optimiser and runtime settings of {@code spec}; a graph
   * TensorFlow refuses to build (a defect of a mixer, not of the user's input) is reported in one sentence
   * naming the mixers.
   */
  public static ModelRuntime create(ResolvedModel model, RunSpec spec, boolean withOptimizer) {
    return create(model, spec, withOptimizer, null);
  }

  /** {@link #create(ResolvedModel, RunSpec, boolean)} as a worker of {@code cluster} (null: one process). */
  public static ModelRuntime create(ResolvedModel model, RunSpec spec, boolean withOptimizer, ClusterTraining cluster) {
    try {
      return new ModelRuntime(model, spec.optimizer(), spec.runtime(), withOptimizer, cluster);
    } catch (org.tensorflow.exceptions.TFInvalidArgumentException | org.tensorflow.exceptions.TensorFlowException e) {
      String mixers = model.layers().stream().map(l -> l.tokenMixer().name()).distinct()
          .collect(java.util.stream.Collectors.joining(", "));
      throw new IllegalStateException("TensorFlow cannot build the model graph with token mixer " + mixers + " ("
          + Errors.firstLine(e.getMessage()) + "); this is a defect of the mixer: rerun with --debug and report it");
    }
  }

  /**
   * The graph and session of {@code resolved}: with {@code withOptimizer} the AdamW update of
   * {@code optimizer}; sessions see the devices {@code runtime.device()} allows and use its thread counts.
   */
  public ModelRuntime(ResolvedModel resolved, OptimizerSpec optimizer, RuntimeSpec runtime, boolean withOptimizer) {
    this(resolved, optimizer, runtime, withOptimizer, null);
  }

  /**
   * As above; with a {@code cluster}, the gradients, loss and stop request of every step are averaged
   * over the workers ({@link ClusterTraining#average}) before clipping and AdamW, in the same
   * {@code Session.run}, and the session runs on this worker's TensorFlow server.
   */
  public ModelRuntime(ResolvedModel resolved, OptimizerSpec optimizer, RuntimeSpec runtime, boolean withOptimizer,
      ClusterTraining cluster) {
    this.config = resolved.config();
    Ops tf = Ops.create(graph);
    this.ops = tf;
    params = new ParameterStore(config.layers());
    model = new LanguageModel(tf, resolved, params, tensorFlowOpsOnly(Devices.list(sessionConfig(runtime))));
    inputs = tf.withName("inputs").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, config.context())));
    targets = tf.withName("targets").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, config.context())));
    loss = tf.withName("loss").identity(model.loss(model.logits(inputs), targets));
    Placeholder<TFloat32> stopIn = null;
    Operand<TFloat32> meanLoss = loss;
    Operand<TFloat32> meanStop = null;
    long bytes = 0;
    if (withOptimizer) {
      List<Operand<TFloat32>> grads = Gradients.of(tf, loss, params.all());
      if (cluster != null) {
        stopIn = tf.withName("stop_request").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
        ClusterTraining.Averaged avg = cluster.average(tf, grads,
            params.all().stream().map(p -> p.shape()).toList(), loss, stopIn);
        grads = avg.gradients();
        meanLoss = avg.loss();
        meanStop = avg.stop();
        bytes = avg.bytes();
      }
      adamw = new AdamW(tf, params.all(), grads, optimizer.beta1(), optimizer.beta2(), optimizer.eps(),
          optimizer.weightDecay(), optimizer.gradClip());
    } else {
      adamw = null;
    }
    stopRequest = stopIn;
    stepLoss = meanLoss;
    stopAgreed = meanStop;
    allReduceBytes = bytes;
    List<Operand<TFloat32>> state = new java.util.ArrayList<>(params.variables());
    if (adamw != null) {
      state.addAll(adamw.moments());
    }
    finite = new FiniteCheck(tf, state);
    session = cluster != null ? cluster.session(graph) : new Session(graph, sessionConfig(runtime));
  }

  /** The session options of {@code runtime}: visible devices and thread counts. */
  /**
   * Whether a model run by a session that sees {@code devices} is built from TensorFlow's own ops only
   * ({@link dev.leviathan.core.spi.LayerContext#portable()}): when one of them is a GPU. TensorFlow then
   * places the model there, and a mixer's fused CPU kernel would copy its layer's tensors to the host and
   * back at every step.
   */
  static boolean tensorFlowOpsOnly(List<Devices.Device> devices) {
    return devices.stream().anyMatch(Devices.Device::isGpu);
  }

  public static ConfigProto sessionConfig(RuntimeSpec runtime) {
    ConfigProto.Builder cp = Devices.sessionConfig(runtime.device());
    if (runtime.intraOpThreads() > 0) {
      cp.setIntraOpParallelismThreads(runtime.intraOpThreads());
    }
    if (runtime.interOpThreads() > 0) {
      cp.setInterOpParallelismThreads(runtime.interOpThreads());
    }
    if (!runtime.threadSpinning()) {
      cp.getExperimentalBuilder().setDisableThreadSpinning(true);
    }
    return cp.build();
  }

  /** Bytes one step's all-reduce moves in and out of each worker (0 without a cluster). */
  public long allReduceBytes() {
    return allReduceBytes;
  }

  /** Fresh parameters from {@code seed} and zero optimiser state. */
  public void initialize(long seed) {
    params.initialize(session, seed);
    if (adamw != null) {
      Session.Runner r = session.runner();
      adamw.initializers().forEach(r::addTarget);
      r.run().close();
    }
  }

  public LanguageModel model() {
    return model;
  }

  public ParameterStore parameters() {
    return params;
  }

  public Session session() {
    return session;
  }

  public ModelConfig config() {
    return config;
  }

  /** Nodes of the graph as built (training step, sampling pass and initialisers). */
  public int graphNodes() {
    int n = 0;
    for (var it = graph.operations(); it.hasNext(); it.next()) {
      n++;
    }
    return n;
  }

  /** One optimisation step ({@code step} is 0-based) on a batch of {@code batch} windows. */
  public StepResult step(int[] x, int[] y, int batch, long step, double lr, long dropoutSeed) {
    return run(x, y, batch, step, lr, dropoutSeed, false, null).result();
  }

  /**
   * One step; in a data-parallel run {@code stopRequested} is this worker's wish to stop, and the result
   * says whether any worker wished so.
   */
  public StepResult step(int[] x, int[] y, int batch, long step, double lr, long dropoutSeed, boolean stopRequested) {
    return run(x, y, batch, step, lr, dropoutSeed, stopRequested, null).result();
  }

  /**
   * One optimisation step like {@link #step} run with TensorFlow's full trace: the run metadata holds
   * every executed node's timings and output shapes ({@code step_stats}) and the graph as optimised and
   * executed ({@code partition_graphs}).
   */
  public Traced tracedStep(int[] x, int[] y, int batch, long step, double lr, long dropoutSeed) {
    RunOptions options = RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE)
        .setOutputPartitionGraphs(true).build();
    return run(x, y, batch, step, lr, dropoutSeed, false, options);
  }

  /** A traced step's result and its run metadata. */
  public record Traced(StepResult result, RunMetadata metadata) {}

  private Traced run(int[] x, int[] y, int batch, long step, double lr, long dropoutSeed, boolean stopRequested,
      RunOptions options) {
    try (TInt32 xt = tokens(x, batch); TInt32 yt = tokens(y, batch);
        TFloat32 stopT = TFloat32.scalarOf(stopRequested ? 1f : 0f);
        TFloat32 lrT = TFloat32.scalarOf((float) lr);
        TFloat32 c1 = TFloat32.scalarOf(adamw.correction1(step + 1));
        TFloat32 c2 = TFloat32.scalarOf(adamw.correction2(step + 1));
        org.tensorflow.types.TBool training = org.tensorflow.types.TBool.scalarOf(true);
        TInt64 seed = TInt64.vectorOf(dropoutSeed, step)) {
      Session.Runner r = session.runner()
          .feed(inputs, xt).feed(targets, yt)
          .feed(adamw.lr(), lrT).feed(adamw.correction1(), c1).feed(adamw.correction2(), c2)
          .feed(model.dropout().training(), training).feed(model.dropout().seed(), seed)
          .fetch(stepLoss).fetch(adamw.gradNorm());
      if (stopRequest != null) {
        r.feed(stopRequest, stopT).fetch(stopAgreed);
      }
      adamw.updates().forEach(r::addTarget);
      if (options != null) {
        r.setOptions(options);
      }
      try (Result res = options != null ? r.runAndFetchMetadata() : r.run()) {
        boolean stop = stopRequest != null && ((TFloat32) res.get(2)).getFloat() > 0;
        StepResult sr = new StepResult(((TFloat32) res.get(0)).getFloat(), ((TFloat32) res.get(1)).getFloat(), stop);
        return new Traced(sr, res.getMetadata().orElse(null));
      }
    }
  }

  /** Whether every parameter and optimiser moment is finite (one fused graph op). */
  public boolean allFinite() {
    return finite.run(session);
  }

  /** Mean loss (nats) on a batch, without dropout and without updating. */
  public double loss(int[] x, int[] y, int batch) {
    try (TInt32 xt = tokens(x, batch); TInt32 yt = tokens(y, batch);
        Result res = session.runner().feed(inputs, xt).feed(targets, yt).fetch(loss).run()) {
      return ((TFloat32) res.get(0)).getFloat();
    }
  }

  /**
   * Logits of the next token after {@code context} (at most the model's context). The pass it runs is added
   * to the graph on the first call: a training run that never recomputes does not hold a second forward pass
   * (with TensorFlow's memory for its nodes) for the whole run.
   */
  public float[] nextLogits(int[] context) {
    buildRecompute();
    try (TInt32 p = TInt32.tensorOf(Shape.of(1, context.length), DataBuffers.of(context, true, false));
        Result res = session.runner().feed(prompt, p).fetch(lastLogits).run()) {
      TFloat32 t = (TFloat32) res.get(0);
      float[] out = new float[(int) t.size()];
      t.copyTo(DataBuffers.of(out, false, false));
      return out;
    }
  }

  private synchronized void buildRecompute() {
    if (lastLogits != null) {
      return;
    }
    Ops tf = ops;
    Placeholder<TInt32> in = tf.withName("prompt").placeholder(TInt32.class, Placeholder.shape(Shape.of(1, -1)));
    Operand<TFloat32> logits = model.logits(in);
    Operand<TInt32> t = tf.shape(in);
    Operand<TInt32> last = tf.math.sub(tf.gather(t, tf.constant(1), tf.constant(0)), tf.constant(1));
    prompt = in;
    lastLogits = tf.reshape(
        tf.slice(logits, tf.stack(List.of(tf.constant(0), last, tf.constant(0))), tf.constant(new int[] {1, 1, -1})),
        tf.constant(new int[] {-1}));
  }

  /** Cached generation in this graph and session (its graphs are built on the first call). */
  public synchronized Generator generator() {
    if (generator == null) {
      generator = new Generator(ops.withSubScope("generator"), session, model);
    }
    return generator;
  }

  private TInt32 tokens(int[] data, int batch) {
    return TInt32.tensorOf(Shape.of(batch, config.context()), DataBuffers.of(data, true, false));
  }

  /** Saves every variable (parameters and optimiser moments) under {@code prefix}. */
  public void save(String prefix) {
    session.save(prefix);
  }

  public void restore(String prefix) {
    session.restore(prefix);
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    session.close();
    graph.close();
  }
}
