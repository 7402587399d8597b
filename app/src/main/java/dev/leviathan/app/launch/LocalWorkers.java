package dev.leviathan.app.launch;

import dev.leviathan.trainer.cluster.ClusterSpec;
import dev.leviathan.trainer.cluster.HostPort;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * N worker processes of one data-parallel run on this machine, like {@code torchrun --nproc-per-node}:
 * worker {@code i} runs {@code command} with {@code TF_CONFIG} naming a cluster of N free ports on
 * 127.0.0.1 and task {@code i}. Worker 0's output is streamed; the others' last lines are kept and shown,
 * prefixed with the worker, only when that worker fails.
 *
 * <p>When a worker exits with a non-zero code, the others get {@code grace} to end by themselves (they
 * notice the missing peer at their next collective), then are terminated. On Linux every worker runs in
 * its own session ({@code setsid}), so a terminal's Ctrl-C reaches only the launcher, which forwards it
 * once with {@link #interrupt()}.
 */
public final class LocalWorkers implements AutoCloseable {
  private static final int KEPT_LINES = 20;
  private static final Path SETSID = Path.of("/usr/bin/setsid");

  private final ClusterSpec cluster;
  private final List<Process> processes = new ArrayList<>();
  private final List<Deque<String>> tails = new ArrayList<>();
  private final List<Thread> pumps = new ArrayList<>();

  private LocalWorkers(ClusterSpec cluster) {
    this.cluster = cluster;
  }

  /** What the run ended with: 0 when every worker succeeded, else the failing worker's code and line. */
  public record Outcome(int code, String failure) {}

  /**
   * Starts the workers.
   *
   * @param n how many workers
   * @param command worker {@code i}'s command line (without TF_CONFIG)
   * @param dir the workers' working directory
   * @param env extra environment for every worker
   * @param out where worker 0's standard output goes
   * @param err where worker 0's standard error goes
   */
  public static LocalWorkers start(int n, IntFunction<List<String>> command, Path dir, Map<String, String> env,
      PrintStream out, PrintStream err) throws IOException {
    List<String> addresses = new ArrayList<>();
    for (int port : HostPort.freeLoopbackPorts(n)) {
      addresses.add(InetAddress.getLoopbackAddress().getHostAddress() + ":" + port);
    }
    LocalWorkers w = new LocalWorkers(ClusterSpec.parseFlags(String.join(",", addresses), "0"));
    try {
      for (int i = 0; i < n; i++) {
        w.startWorker(i, command.apply(i), dir, env, out, err);
      }
    } catch (IOException | RuntimeException e) {
      w.close();
      throw e;
    }
    return w;
  }

  private void startWorker(int i, List<String> command, Path dir, Map<String, String> env, PrintStream out,
      PrintStream err) throws IOException {
    List<String> line = new ArrayList<>();
    if (Files.isExecutable(SETSID)) {
      line.add(SETSID.toString());
    }
    line.addAll(command);
    ProcessBuilder pb = new ProcessBuilder(line).directory(dir.toFile());
    pb.environment().putAll(env);
    pb.environment().put(ClusterSpec.TF_CONFIG, cluster.tfConfig(i));
    pb.redirectInput(ProcessBuilder.Redirect.PIPE);
    Process p = pb.start();
    p.getOutputStream().close();
    Deque<String> tail = new ArrayDeque<>();
    processes.add(p);
    tails.add(tail);
    pump(i, p.getInputStream(), i == 0 ? out : null, tail);
    pump(i, p.getErrorStream(), i == 0 ? err : null, tail);
  }

  private void pump(int i, InputStream in, PrintStream to, Deque<String> tail) {
    Thread t = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
        for (String line; (line = r.readLine()) != null; ) {
          if (to != null) {
            to.println(line);
          }
          synchronized (tail) {
            tail.addLast(line);
            if (tail.size() > KEPT_LINES) {
              tail.removeFirst();
            }
          }
        }
      } catch (IOException e) {
        // the worker ended; its exit code tells what happened
      }
    }, "worker-" + i + "-output");
    t.setDaemon(true);
    t.start();
    pumps.add(t);
  }

  public ClusterSpec cluster() {
    return cluster;
  }

  /** The worker processes, in task order. */
  public List<Process> processes() {
    return List.copyOf(processes);
  }

  /** Sends SIGINT to every running worker (each handles it as Ctrl-C). */
  public void interrupt() {
    for (Process p : processes) {
      if (p.isAlive()) {
        try {
          new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor(5, TimeUnit.SECONDS);
        } catch (IOException e) {
          p.destroy();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  /**
   * Waits until every worker has exited. When one fails first, the others have {@code grace} to end by
   * themselves, then are terminated; the outcome names the worker whose failure started it (see
   * {@link #rootCause}).
   *
   * @param log where a failed worker's kept lines go (prefixed {@code [worker i]}); worker 0's were streamed
   */
  public Outcome await(Duration grace, PrintStream log) throws InterruptedException {
    List<Integer> failures = new ArrayList<>(); // workers that failed by themselves, in the order seen
    long deadline = Long.MAX_VALUE;
    boolean stopping = false;
    while (true) {
      boolean alive = false;
      for (int i = 0; i < processes.size(); i++) {
        Process p = processes.get(i);
        if (p.isAlive()) {
          alive = true;
        } else if (!stopping && p.exitValue() != 0 && !failures.contains(i)) {
          failures.add(i);
          deadline = Math.min(deadline, System.nanoTime() + grace.toNanos());
        }
      }
      if (!alive) {
        break;
      }
      if (System.nanoTime() > deadline) {
        stopping = true;
        stopAll(Duration.ofSeconds(5));
      }
      Thread.sleep(100);
    }
    for (Thread t : pumps) {
      t.join(2000);
    }
    if (failures.isEmpty()) {
      return new Outcome(0, "");
    }
    int failed = rootCause(failures);
    int code = processes.get(failed).exitValue();
    if (failed != 0) {
      synchronized (tails.get(failed)) {
        for (String line : tails.get(failed)) {
          log.println("[worker " + failed + "] " + line);
        }
      }
    }
    return new Outcome(code, cluster.describe(failed) + " exited with code " + code + describeSignal(code)
        + lastError(failed));
  }

  /**
   * Of the workers that failed by themselves (before any was stopped), the one whose failure started it:
   * one ended by a signal (killed from outside), else one that does not report another worker as
   * unresponsive, else the first seen. Workers notice a dead peer within milliseconds, so the order in
   * which exits are seen does not tell which came first.
   */
  private int rootCause(List<Integer> failures) {
    for (int i : failures) {
      if (!describeSignal(processes.get(i).exitValue()).isEmpty()) {
        return i;
      }
    }
    for (int i : failures) {
      if (!lastError(i).contains("stopped responding")) {
        return i;
      }
    }
    return failures.get(0);
  }

  private String lastError(int i) {
    synchronized (tails.get(i)) {
      List<String> lines = new ArrayList<>(tails.get(i));
      for (int k = lines.size() - 1; k >= 0; k--) {
        if (lines.get(k).startsWith("error: ")) {
          return ": " + lines.get(k).substring("error: ".length());
        }
      }
    }
    return "";
  }

  private static String describeSignal(int code) {
    return code > 128 && code < 160 ? " (ended by signal " + (code - 128) + ")" : "";
  }

  /** Terminates every running worker: SIGTERM, then SIGKILL after {@code wait}. */
  public void stopAll(Duration wait) throws InterruptedException {
    for (Process p : processes) {
      p.destroy();
    }
    long end = System.nanoTime() + wait.toNanos();
    for (Process p : processes) {
      if (!p.waitFor(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS)) {
        p.destroyForcibly();
      }
    }
  }

  /** Kills whatever still runs. */
  @Override
  public void close() {
    for (Process p : processes) {
      if (p.isAlive()) {
        p.destroyForcibly();
      }
    }
  }
}
