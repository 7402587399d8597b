package dev.leviathan.trainer.cluster;

import dev.leviathan.trainer.ConfigException;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.StringJoiner;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TFloat32;

/**
 * One worker process of the cluster tests, configured by {@code TF_CONFIG}. Prints its results on
 * stdout as {@code KEY value} lines, then exits when stdin closes (so the test decides when every
 * worker may go, and an orphan never outlives its test), or after a hard deadline.
 *
 * <p>Every mode starts with the {@link StartupHandshake}, which also waits for every worker to come
 * up: worker k states "mixer stack" = Mk when the first argument is {@code mixers=M0,M1,...}
 * ("attention" otherwise), and prints {@code REFUSED <line>} (exit status 2) on a mismatch.
 *
 * <ul>
 *   <li>{@code mean}: all-reduces the vector {@code v_k[j] = (k+1)*(j+1) + 0.25} once and prints it.
 *   <li>{@code sgd ROWS STEPS}: trains {@link LinearProblem} on this worker's shard, prints losses and parameters.
 *   <li>{@code steps}: all-reduces a small vector every 100 ms under a {@link StepWatchdog}, printing
 *       {@code STEP n}; on a failure prints {@code FAILURE <line>} and exits with status 3.
 *   <li>{@code bench FLOATS RUNS}: mean milliseconds of one all-reduce of FLOATS floats.
 * </ul>
 */
public final class ClusterWorkerMain {
  /** The start-up handshake waits this long for every worker's JVM to come up (a busy machine is slow). */
  static final float START_TIMEOUT_SECONDS = 40f;
  static final float TIMEOUT_SECONDS = 3f;
  static final Duration STEP_BOUND = Duration.ofSeconds(5);

  public static void main(String[] args) throws Exception {
    Thread guard = new Thread(() -> {
      sleep(Long.parseLong(System.getProperty("worker.deadline.ms", "90000")));
      System.out.println("FAILURE hard deadline reached");
      System.out.flush();
      Runtime.getRuntime().halt(4);
    }, "deadline");
    guard.setDaemon(true);
    guard.start();

    ClusterSpec spec = ClusterSpec.resolve(System.getenv(ClusterSpec.TF_CONFIG), null, null).orElseThrow();
    ConfigProto threads = ConfigProto.newBuilder()
        .setIntraOpParallelismThreads(1).setInterOpParallelismThreads(2).build();
    WorkerServer server = WorkerServer.start(spec, threads);
    System.out.println("STARTED " + spec.describe());
    String mixers = args[0].startsWith("mixers=") ? args[0].substring(7).split(",")[spec.task()] : "attention";
    if (args[0].startsWith("mixers=")) {
      args = java.util.Arrays.copyOfRange(args, 1, args.length);
    }
    try {
      StartupHandshake.check(server, Map.of("mixer stack", mixers), START_TIMEOUT_SECONDS);
    } catch (ConfigException e) {
      System.out.println("REFUSED " + e.getMessage());
      System.out.flush();
      awaitStdinClosed();
      System.exit(2);
    }
    switch (args[0]) {
      case "mean" -> mean(server);
      case "sgd" -> sgd(server, Integer.parseInt(args[1]), Integer.parseInt(args[2]));
      case "steps" -> steps(server);
      case "bench" -> bench(server, Integer.parseInt(args[1]), Integer.parseInt(args[2]));
      default -> throw new IllegalArgumentException(args[0]);
    }
    System.out.println("DONE");
    System.out.flush();
    awaitStdinClosed();
    System.exit(0);
  }

  static float[] vector(int task, int n) {
    float[] v = new float[n];
    for (int j = 0; j < n; j++) {
      v[j] = (task + 1) * (j + 1) + 0.25f;
    }
    return v;
  }

  private static void mean(WorkerServer server) {
    ClusterSpec spec = server.spec();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> out = CollectiveMean.of(tf, tf.constant(vector(spec.task(), 5)), spec, 1, TIMEOUT_SECONDS);
      try (Session s = server.session(g); Result r = s.runner().fetch(out).run()) {
        System.out.println("RESULT " + bits(floats((TFloat32) r.get(0), 5)));
      }
    }
  }

  private static void sgd(WorkerServer server, int rows, int steps) {
    ClusterSpec spec = server.spec();
    LinearProblem p = new LinearProblem(rows, Optional.of(spec), TIMEOUT_SECONDS);
    try (p.graph; Session s = server.session(p.graph)) {
      s.initialize();
      for (int i = 0; i < steps; i++) {
        System.out.println("LOSS " + i + " " + p.step(s, i, rows * spec.size(), rows * spec.task()));
      }
      System.out.println("PARAMS " + bits(p.parameters(s)));
    }
  }

  private static void steps(WorkerServer server) {
    ClusterSpec spec = server.spec();
    try (Graph g = new Graph(); StepWatchdog watchdog = new StepWatchdog(spec, STEP_BOUND)) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> out = CollectiveMean.of(tf, tf.constant(vector(spec.task(), 8)), spec, 1, TIMEOUT_SECONDS);
      try (Session s = server.session(g)) {
        for (long step = 0; ; step++) {
          long t0 = System.nanoTime();
          try {
            watchdog.run(step, () -> {
              try (Result r = s.runner().fetch(out).run()) {
                return null;
              }
            });
          } catch (ClusterFailure f) {
            System.out.printf(Locale.ROOT, "ELAPSED %.3f%n", (System.nanoTime() - t0) / 1e9);
            System.out.println("FAILURE " + f.getMessage());
            System.out.flush();
            System.exit(3);
          }
          System.out.println("STEP " + step);
          sleep(100);
        }
      }
    }
  }

  private static void bench(WorkerServer server, int n, int runs) {
    ClusterSpec spec = server.spec();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> out = CollectiveMean.of(tf, tf.constant(vector(spec.task(), n)), spec, 1, 30f);
      Operand<TFloat32> sum = tf.math.mean(out, tf.constant(0));
      try (Session s = server.session(g)) {
        for (int i = 0; i < 5; i++) {
          s.runner().fetch(sum).run().close();
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < runs; i++) {
          s.runner().fetch(sum).run().close();
        }
        System.out.printf(Locale.ROOT, "BENCH %d floats: %.2f ms per all-reduce (%d runs)%n", n,
            (System.nanoTime() - t0) / 1e6 / runs, runs);
      }
    }
  }

  static float[] floats(TFloat32 t, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = t.getFloat(i);
    }
    return v;
  }

  /** Floats as their exact bit patterns, so the test can compare bitwise. */
  static String bits(float[] v) {
    StringJoiner j = new StringJoiner(",");
    for (float f : v) {
      j.add(Integer.toHexString(Float.floatToRawIntBits(f)));
    }
    return j.toString();
  }

  static float[] parseBits(String s) {
    String[] parts = s.split(",");
    float[] v = new float[parts.length];
    for (int i = 0; i < parts.length; i++) {
      v[i] = Float.intBitsToFloat(Integer.parseUnsignedInt(parts[i], 16));
    }
    return v;
  }

  private static void awaitStdinClosed() throws IOException {
    InputStream in = System.in;
    while (in.read() >= 0) {
      // wait for the test to close our stdin
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
