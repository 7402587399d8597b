package dev.leviathan.trainer.cluster;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TFloat32;

/**
 * One worker's part of a data-parallel training run: its {@link WorkerServer}, the start-up handshake,
 * the all-reduce of a step and the barriers around work only task 0 does.
 *
 * <p>A step's gradients {@code g_1..g_n}, its loss {@code l} and a stop request {@code s} (1 when this
 * worker was asked to stop, else 0) travel as one flat vector ({@link FlatPack}) through one
 * {@link CollectiveMean}: every worker gets {@code mean_k g_i}, {@code mean_k l} (the loss of the global
 * batch, since every worker's batch has the same size) and {@code mean_k s}, which is positive on every
 * worker as soon as one was asked to stop, so all stop after the same step.
 *
 * <p>Every step and barrier runs under a {@link StepWatchdog}. The first step and the barriers have a
 * long bound: while task 0 alone writes a checkpoint the others wait at the next barrier, and the first
 * step includes TensorFlow's graph preparation.
 */
public final class ClusterTraining implements AutoCloseable {
  /** Instance key of the step's all-reduce. */
  static final int STEP_KEY = 1;
  /** Instance key of the barrier. */
  static final int BARRIER_KEY = 2;
  /** Instance key of the final parameter comparison. */
  static final int FINISH_KEY = 3;
  /** How long the start-up handshake waits for every worker to start. */
  public static final float START_TIMEOUT_SECONDS = 120f;
  /** How long a barrier waits (task 0 may be writing a checkpoint or sample meanwhile). */
  static final float BARRIER_TIMEOUT_SECONDS = 300f;
  /** Java's margin over TensorFlow's own collective timeout. */
  static final Duration MARGIN = Duration.ofSeconds(10);

  private final WorkerServer server;
  private final float stepTimeoutSeconds;
  private final StepWatchdog steps;
  private final StepWatchdog patient;
  private final Graph barrierGraph = new Graph();
  private final Operand<TFloat32> barrier;
  private final Session barrierSession;
  private long stepsRun;

  private ClusterTraining(WorkerServer server, float stepTimeoutSeconds) {
    this.server = server;
    this.stepTimeoutSeconds = stepTimeoutSeconds;
    ClusterSpec spec = server.spec();
    Duration stepBound = Duration.ofMillis((long) (stepTimeoutSeconds * 1000)).plus(MARGIN);
    Duration longBound = Duration.ofSeconds((long) BARRIER_TIMEOUT_SECONDS).plus(MARGIN);
    this.steps = new StepWatchdog(spec, stepBound);
    this.patient = new StepWatchdog(spec, longBound.compareTo(stepBound) > 0 ? longBound : stepBound.plus(longBound));
    Ops tf = Ops.create(barrierGraph);
    this.barrier = CollectiveMean.of(tf, tf.constant(1f), spec, BARRIER_KEY, BARRIER_TIMEOUT_SECONDS);
    this.barrierSession = server.session(barrierGraph);
  }

  /**
   * Starts this worker's server and checks with every other worker that they train the same thing;
   * returns once every worker has started (the handshake is the start-up barrier).
   *
   * @param spec the cluster and this task
   * @param sessionConfig the model session's options (threads, devices)
   * @param facts what must be equal on every worker ("config", "mixer stack", ...), same order everywhere
   * @param stepTimeoutSeconds how long a step's all-reduce waits for the others
   */
  public static ClusterTraining start(ClusterSpec spec, ConfigProto sessionConfig, Map<String, String> facts,
      float stepTimeoutSeconds) {
    WorkerServer server = WorkerServer.start(spec, sessionConfig);
    StartupHandshake.check(server, facts, START_TIMEOUT_SECONDS);
    return new ClusterTraining(server, stepTimeoutSeconds);
  }

  public ClusterSpec spec() {
    return server.spec();
  }

  /** A session running {@code graph} on this worker's server (initialise variables explicitly). */
  public Session session(Graph graph) {
    return server.session(graph);
  }

  /** One step's all-reduce of the gradients, loss and stop request, as laid out in the class comment. */
  public Averaged average(Ops tf, List<Operand<TFloat32>> gradients, List<long[]> shapes, Operand<TFloat32> loss,
      Operand<TFloat32> stopRequest) {
    List<Shape> all = new ArrayList<>();
    shapes.forEach(s -> all.add(Shape.of(s)));
    all.add(Shape.scalar());
    all.add(Shape.scalar());
    FlatPack pack = new FlatPack(all);
    List<Operand<TFloat32>> parts = new ArrayList<>(gradients);
    parts.add(loss);
    parts.add(stopRequest);
    Operand<TFloat32> mean = CollectiveMean.of(tf, pack.pack(tf, parts), spec(), STEP_KEY, stepTimeoutSeconds);
    List<Operand<TFloat32>> out = pack.unpack(tf, mean);
    int n = gradients.size();
    return new Averaged(out.subList(0, n), out.get(n), out.get(n + 1), pack.size() * 4L);
  }

  /**
   * The averaged parts of a step.
   *
   * @param gradients the mean gradient of every parameter
   * @param loss the mean loss
   * @param stop the mean stop request (> 0: stop after this step)
   * @param bytes the size of the all-reduced vector
   */
  public record Averaged(List<Operand<TFloat32>> gradients, Operand<TFloat32> loss, Operand<TFloat32> stop,
      long bytes) {}

  /** Runs step {@code step} (its all-reduce inside) under the watchdog. */
  public <T> T step(long step, Callable<T> body) {
    StepWatchdog w = stepsRun++ == 0 ? patient : steps;
    return w.run(step, body);
  }

  /** Waits until every worker has reached this point (after work only task 0 does). */
  public void barrier(long step) {
    patient.run(step, () -> {
      try (Result r = barrierSession.runner().fetch(barrier).run()) {
        return null;
      }
    });
  }

  /**
   * The end of the run: waits for every worker (so none is left waiting at a collective) and checks that
   * all of them hold the same parameters, compared by {@code digest} (e.g. {@link #digest}).
   *
   * @throws IllegalStateException one line naming a worker whose parameters differ from worker 0's
   */
  public void finish(long step, String digest) {
    Optional<String> diff = patient.run(step, () -> StartupHandshake.compare(server,
        Map.of("parameters", digest), BARRIER_TIMEOUT_SECONDS, FINISH_KEY));
    diff.ifPresent(d -> {
      throw new IllegalStateException("after step " + step + " the workers' parameters differ ("
          + d.substring(0, d.indexOf(';')) + "); the run is not data-parallel as it should be: report this");
    });
  }

  /** SHA-256 (hex) of every value's bits, in the map's order. */
  public static String digest(Map<String, float[]> values) {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      ByteBuffer buf = ByteBuffer.allocate(4);
      for (Map.Entry<String, float[]> e : values.entrySet()) {
        md.update(e.getKey().getBytes(StandardCharsets.UTF_8));
        for (float f : e.getValue()) {
          buf.clear();
          md.update(buf.putInt(Float.floatToRawIntBits(f)).array());
        }
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Releases the watchdog threads; after a {@link ClusterFailure} the process should exit instead. */
  @Override
  public void close() {
    steps.close();
    patient.close();
    barrierSession.close();
    barrierGraph.close();
  }
}
