package dev.leviathan.trainer.cluster;

import dev.leviathan.trainer.ConfigException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.OperationBuilder;
import org.tensorflow.Output;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TInt64;

/**
 * Refuses to train when the workers would not train the same model: before the first step every
 * worker states named facts ("config", "mixer stack", "plugins" ...), each fact is reduced to a
 * 64-bit fingerprint (the first 8 bytes of its SHA-256), and TensorFlow's {@code CollectiveGatherV2}
 * gives every worker the fingerprints of all workers. A worker whose fingerprint of a fact differs
 * from worker 0's is named with the fact, on every worker, in one line.
 *
 * <p>It is also the start-up barrier: a collective's timeout counts while it waits for the other
 * workers to join, so the first collective of a run must allow for the slowest worker's start
 * (JVM, native library, graph build). Give the handshake a generous timeout and the training
 * collectives a short one.
 */
public final class StartupHandshake {
  /** The handshake's collective instance; training collectives use small keys. */
  static final int INSTANCE_KEY = 1_000_000;

  private StartupHandshake() {}

  /**
   * Gathers every worker's fingerprints and fails when one differs from worker 0's.
   *
   * @param server this worker's server
   * @param facts named facts, in the same order on every worker
   * @param timeoutSeconds how long to wait for the other workers
   * @throws ConfigException one line naming the first worker and fact that differ
   */
  public static void check(WorkerServer server, Map<String, String> facts, float timeoutSeconds) {
    compare(server, facts, timeoutSeconds, INSTANCE_KEY).ifPresent(message -> {
      throw new ConfigException(message);
    });
  }

  /**
   * Gathers every worker's fingerprints of {@code facts} with collective instance {@code instanceKey}
   * (one key per gather of a run) and returns the first difference from worker 0, if any.
   */
  static Optional<String> compare(WorkerServer server, Map<String, String> facts, float timeoutSeconds,
      int instanceKey) {
    ClusterSpec spec = server.spec();
    List<String> names = new ArrayList<>(facts.keySet());
    long[] mine = facts.values().stream().mapToLong(StartupHandshake::fingerprint).toArray();
    long[] all;
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TInt64> gathered = gather(tf, tf.constant(mine), spec, timeoutSeconds, instanceKey);
      try (Session s = server.session(g); Result r = s.runner().fetch(gathered).run()) {
        TInt64 t = (TInt64) r.get(0);
        all = new long[(int) t.size()];
        for (int i = 0; i < all.length; i++) {
          all[i] = t.getLong(i);
        }
      }
    }
    return difference(spec, names, all);
  }

  /** {@code CollectiveGatherV2}: the workers' vectors concatenated in task order. */
  private static Operand<TInt64> gather(Ops tf, Operand<TInt64> x, ClusterSpec spec, float timeoutSeconds,
      int instanceKey) {
    OperationBuilder b = tf.scope().opBuilder("CollectiveGatherV2", "Handshake");
    b.addInput(x.asOutput());
    b.addInput(tf.constant(spec.size()).asOutput());
    b.addInput(tf.constant(CollectiveMean.GROUP_KEY).asOutput());
    b.addInput(tf.constant(instanceKey).asOutput());
    b.addInputList(new Output<?>[0]);
    b.setAttr("timeout_seconds", timeoutSeconds);
    b.setDevice(spec.cpuDevice());
    return b.build().output(0);
  }

  /**
   * The first difference from worker 0, if any.
   *
   * @param gathered the fingerprints of worker 0, then worker 1, ... ({@code names.size()} each)
   */
  static Optional<String> difference(ClusterSpec spec, List<String> names, long[] gathered) {
    int k = names.size();
    if (gathered.length != k * spec.size()) {
      return Optional.of("the workers state different numbers of start-up facts (" + gathered.length
          + " fingerprints for " + spec.size() + " workers x " + k + "); run the same Leviathan version everywhere");
    }
    for (int w = 1; w < spec.size(); w++) {
      for (int f = 0; f < k; f++) {
        if (gathered[w * k + f] != gathered[f]) {
          return Optional.of(spec.describe(w) + " has a different " + names.get(f) + " than " + spec.describe(0)
              + "; start every worker with the same " + names.get(f));
        }
      }
    }
    return Optional.empty();
  }

  static long fingerprint(String text) {
    try {
      byte[] h = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
      return ByteBuffer.wrap(h, 0, 8).getLong();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
