package dev.leviathan.trainer.cluster;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * N {@link ClusterWorkerMain} processes on loopback, each started with its own {@code TF_CONFIG}
 * and the test class path. Their stdout lines are queued per worker; stderr (TensorFlow's logs)
 * goes to a file per worker, shown when a line does not arrive. Closing ends every process: first
 * by closing its stdin (the worker exits by itself), then forcibly.
 */
final class WorkerProcesses implements AutoCloseable {
  final ClusterSpec spec;
  final List<Process> processes = new ArrayList<>();
  private final List<BlockingQueue<String>> lines = new ArrayList<>();
  private final List<Path> logs = new ArrayList<>();

  WorkerProcesses(int n, Path dir, String... args) throws IOException {
    List<String> addresses = new ArrayList<>();
    for (int port : HostPort.freeLoopbackPorts(n)) {
      addresses.add("127.0.0.1:" + port);
    }
    spec = ClusterSpec.parseFlags(String.join(",", addresses), "0");
    String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    for (int i = 0; i < n; i++) {
      List<String> command = new ArrayList<>(List.of(java, "-Xmx256m", "-XX:+UseSerialGC",
          "-XX:TieredStopAtLevel=1", "-Dworker.deadline.ms=60000", "-cp", classPath,
          ClusterWorkerMain.class.getName()));
      command.addAll(List.of(args));
      Path log = dir.resolve("worker-" + i + ".log");
      ProcessBuilder pb = new ProcessBuilder(command).redirectError(log.toFile());
      pb.environment().put(ClusterSpec.TF_CONFIG, spec.tfConfig(i));
      pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "1");
      Process p = pb.start();
      BlockingQueue<String> queue = new LinkedBlockingQueue<>();
      Thread reader = new Thread(() -> {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
          for (String line; (line = r.readLine()) != null; ) {
            queue.add(line);
          }
        } catch (IOException e) {
          queue.add("READ-ERROR " + e);
        }
      }, "worker-" + i + "-stdout");
      reader.setDaemon(true);
      reader.start();
      processes.add(p);
      lines.add(queue);
      logs.add(log);
    }
  }

  /** The next line of worker {@code i} starting with {@code prefix} (earlier lines are dropped). */
  String await(int i, String prefix, Duration wait) throws Exception {
    long end = System.nanoTime() + wait.toNanos();
    List<String> skipped = new ArrayList<>();
    while (true) {
      String line = lines.get(i).poll(Math.max(1, end - System.nanoTime()), TimeUnit.NANOSECONDS);
      if (line == null) {
        throw new AssertionError("worker " + i + " printed no '" + prefix + "' line within " + wait
            + "; its output: " + skipped + "; alive: " + processes.get(i).isAlive() + "; log tail: " + logTail(i));
      }
      if (line.startsWith(prefix)) {
        return line.substring(prefix.length()).strip();
      }
      skipped.add(line);
    }
  }

  private String logTail(int i) {
    try {
      List<String> all = Files.readAllLines(logs.get(i));
      return String.join(" | ", all.subList(Math.max(0, all.size() - 8), all.size()));
    } catch (IOException e) {
      return e.toString();
    }
  }

  /** Lets every worker exit (closes its stdin) and waits for it. */
  void finish(Duration wait) throws Exception {
    for (Process p : processes) {
      p.getOutputStream().close();
    }
    for (int i = 0; i < processes.size(); i++) {
      if (!processes.get(i).waitFor(wait.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new AssertionError("worker " + i + " did not exit within " + wait + " after its stdin closed");
      }
    }
  }

  @Override
  public void close() {
    for (Process p : processes) {
      if (p.isAlive()) {
        p.destroyForcibly();
      }
    }
  }
}
