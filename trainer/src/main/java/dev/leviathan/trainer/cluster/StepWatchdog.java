package dev.leviathan.trainer.cluster;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import org.tensorflow.exceptions.TensorFlowException;

/**
 * Bounds every step of a multi-worker run: a step that neither returns nor fails within
 * {@code bound} becomes a {@link ClusterFailure}, and so does a {@code TensorFlowException} from a
 * step after which another worker refuses connections. TensorFlow bounds a collective by its own
 * timeout, but a step started after the collective leader died retries forever, so the bound is
 * also kept in Java.
 *
 * <p>Steps run one at a time on one daemon thread. After a failure that thread may still be blocked
 * in native code: the watchdog refuses further steps, and the caller reports and exits the process.
 */
public final class StepWatchdog implements AutoCloseable {
  private static final Duration PROBE_WAIT = Duration.ofMillis(500);
  private static final Duration REPROBE_AFTER = Duration.ofSeconds(1);

  private final ClusterSpec spec;
  private final Duration bound;
  private final ExecutorService runner;
  private ClusterFailure failed;

  /**
   * @param spec the cluster, to name the worker that stopped responding
   * @param bound the longest a step may take (the collective timeout plus a margin)
   */
  public StepWatchdog(ClusterSpec spec, Duration bound) {
    this.spec = spec;
    this.bound = bound;
    this.runner = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "cluster-step");
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Runs step {@code step} and returns its result.
   *
   * @throws ClusterFailure one line naming the worker (when a dead one can be told) and the step
   */
  public synchronized <T> T run(long step, Callable<T> body) {
    if (failed != null) {
      throw failed;
    }
    Future<T> result = runner.submit(body);
    try {
      return result.get(bound.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      result.cancel(true);
      throw fail(step, "no answer within " + bound.toMillis() / 1000.0 + " s", e);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof TensorFlowException tf) {
        List<Integer> dead = probe();
        if (!dead.isEmpty() || looksLikeCollectiveFailure(tf.getMessage())) {
          throw fail(step, dead, "TensorFlow: " + summary(tf.getMessage()), tf);
        }
        throw tf;
      }
      if (cause instanceof RuntimeException re) {
        throw re;
      }
      if (cause instanceof Error err) {
        throw err;
      }
      throw new IllegalStateException(cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for step " + step, e);
    }
  }

  private ClusterFailure fail(long step, String why, Throwable cause) {
    return fail(step, probe(), why, cause);
  }

  /**
   * The workers that refuse connections; probed again after a second when all accept, since a killed
   * process may still hold its listening socket for a moment while it is torn down.
   */
  private List<Integer> probe() {
    List<Integer> dead = PeerProbe.unreachable(spec, PROBE_WAIT);
    if (dead.isEmpty()) {
      try {
        Thread.sleep(REPROBE_AFTER.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return dead;
      }
      dead = PeerProbe.unreachable(spec, PROBE_WAIT);
    }
    return dead;
  }

  private ClusterFailure fail(long step, List<Integer> dead, String why, Throwable cause) {
    String who = dead.isEmpty()
        ? "a worker of " + spec.size() + " (all still accept connections)"
        : dead.stream().map(spec::describe).collect(Collectors.joining(", "));
    failed = new ClusterFailure(who + " stopped responding at step " + step + " (" + why + ")", step, cause);
    return failed;
  }

  private static boolean looksLikeCollectiveFailure(String message) {
    String m = message == null ? "" : message.toLowerCase(java.util.Locale.ROOT);
    return m.contains("collective") || m.contains("deadline") || m.contains("unavailable")
        || m.contains("failed to connect") || m.contains("timed out") || m.contains("socket closed");
  }

  /**
   * The informative line of a TensorFlow error: its messages start with "From /job:...:" and carry
   * gRPC details and advice on further lines.
   */
  static String summary(String message) {
    if (message == null) {
      return "";
    }
    return message.lines().map(String::strip)
        .filter(l -> !l.isEmpty() && !l.startsWith("From /job:") && !l.startsWith("Additional GRPC")
            && !l.startsWith(":{") && !l.startsWith("The error could be") && !l.startsWith("[["))
        .findFirst()
        .orElse(message.lines().findFirst().orElse("").strip())
        .replaceAll("\\s*\\[type\\.googleapis\\.com[^\\]]*\\]", "");
  }

  /** Lets go of the step thread (a step still blocked in native code keeps it until the process exits). */
  @Override
  public void close() {
    runner.shutdownNow();
  }
}
