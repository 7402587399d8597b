package dev.leviathan.app.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.tensorflow.exceptions.TFResourceExhaustedException;

/**
 * Both sides of a measuring worker process (bench and bench --generate): the worker's {@code main}
 * that reports a failure as one line on stdout with its exit code, and the parent's reading of the
 * worker's {@code key=value} lines and log.
 */
final class WorkerIo {
  /** Exit code of a worker that ran out of memory. */
  static final int EXIT_OOM = 3;

  private WorkerIo() {}

  /** What a worker measures, writing its result lines to {@code out}. */
  @FunctionalInterface
  interface Work {
    void run(PrintStream out) throws Exception;
  }

  /**
   * Runs {@code work} as a worker process's whole life: out of memory prints {@code <failure> oom
   * ...} and exits {@value #EXIT_OOM}, any other failure prints {@code <failure> error ...} (and the
   * trace on stderr, which the parent keeps in the worker's log) and exits 1.
   */
  static void runWorker(String failure, Work work) {
    System.setProperty("java.awt.headless", "true");
    dev.leviathan.app.Main.nativeMemoryUnlimited();
    PrintStream out = System.out;
    int code = 0;
    try {
      work.run(out);
    } catch (OutOfMemoryError | TFResourceExhaustedException e) {
      out.println(failure + " oom " + Reports.oneLine(e));
      code = EXIT_OOM;
    } catch (Throwable e) {
      out.println(failure + " error " + Reports.oneLine(e));
      e.printStackTrace();
      code = 1;
    }
    out.flush();
    System.exit(code);
  }

  /**
   * A worker JVM started by {@link #start}. Until it is closed, a shutdown hook destroys the worker if
   * this JVM ends first (Ctrl-C during a measurement).
   */
  static final class Worker implements AutoCloseable {
    final Process process;
    private final Thread killer;

    private Worker(Process process, Thread killer) {
      this.process = process;
      this.killer = killer;
    }

    @Override
    public void close() {
      try {
        Runtime.getRuntime().removeShutdownHook(killer);
      } catch (IllegalStateException e) {
        // The JVM is already shutting down; the hook destroys the worker.
      }
    }
  }

  /**
   * Starts {@code main} in a fresh JVM of this Java with this class path, the given JVM flags and
   * arguments, in {@code workingDir}, its stdout and stderr going to files.
   */
  static Worker start(Path workingDir, List<String> jvmFlags, Class<?> main, List<String> args, Path stdout,
      Path stderr) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(jvmFlags);
    cmd.addAll(List.of("-Djava.awt.headless=true", "-cp", System.getProperty("java.class.path"), main.getName()));
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(workingDir.toFile())
        .redirectOutput(stdout.toFile()).redirectError(stderr.toFile());
    pb.environment().putIfAbsent("TF_CPP_MIN_LOG_LEVEL", "2");
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start a bench worker JVM: " + e.getMessage(), e);
    }
    Thread killer = new Thread(p::destroyForcibly, main.getSimpleName() + "-cleanup");
    Runtime.getRuntime().addShutdownHook(killer);
    return new Worker(p, killer);
  }

  /** The {@code key=value} words of a result line. */
  static Map<String, String> keyValues(String line) {
    Map<String, String> m = new HashMap<>();
    for (String part : line.split(" ")) {
      int eq = part.indexOf('=');
      if (eq > 0) {
        m.put(part.substring(0, eq), part.substring(eq + 1));
      }
    }
    return m;
  }

  /** The lines of a worker's log, or none when it cannot be read. */
  static List<String> lines(Path file) {
    try {
      return Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return List.of();
    }
  }

  /** The last line of a worker's log that is not part of a stack trace. */
  static String lastLine(Path file) {
    List<String> lines = lines(file);
    for (int i = lines.size() - 1; i >= 0; i--) {
      String l = lines.get(i).strip();
      if (!l.isEmpty() && !l.startsWith("at ") && !l.startsWith("...")) {
        return l;
      }
    }
    return "";
  }

  /** {@code name} without a {@code .csv} ending. */
  static String stripCsv(String name) {
    return name.toLowerCase(Locale.ROOT).endsWith(".csv") ? name.substring(0, name.length() - 4) : name;
  }

  /** A number as written on a command line: no {@code .0} for whole numbers. */
  static String trim(double v) {
    return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
  }
}
