package dev.leviathan.app.launch;

import com.google.inject.Inject;
import com.google.inject.name.Named;
import dev.leviathan.app.LeviathanCommand;
import dev.leviathan.app.Main;
import dev.leviathan.trainer.ConfigException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Unmatched;
import sun.misc.Signal;

/**
 * {@code leviathan launch --workers N <train arguments>}: one data-parallel run as N {@code train}
 * processes on this machine (see {@link LocalWorkers}). Each worker is this same Java with this class
 * path and JVM options.
 */
@Command(name = "launch", mixinStandardHelpOptions = true,
    description = {"Train data-parallel on N worker processes of this machine (127.0.0.1), joined by TensorFlow's"
        + " distributed runtime: each worker runs 'train' with the given arguments and its TF_CONFIG; worker 0"
        + " writes the run directory and its output is shown.",
        "Example: leviathan launch --workers 2 --config configs/nanogpt-cpu.yaml --set batch=6"})
public final class LaunchCommand implements Callable<Integer> {
  /** Most workers one machine is given (each is a JVM with TensorFlow). */
  static final int MAX_WORKERS = 64;

  @Option(names = "--workers", required = true, paramLabel = "N", description = "Number of worker processes.")
  int workers;

  @Option(names = "--grace", paramLabel = "SECONDS", defaultValue = "20",
      description = "After a worker fails, how long the others may take to stop by themselves. Default: ${DEFAULT-VALUE}.")
  int graceSeconds;

  @Unmatched
  List<String> trainArgs = new ArrayList<>();

  @ParentCommand
  LeviathanCommand parent;

  private final PrintStream stdout;
  private final PrintStream stderr;
  private final Map<String, String> env;
  private final boolean installSignalHandler;
  private final Path workingDir;

  @Inject
  LaunchCommand(@Named("out") PrintStream stdout, @Named("err") PrintStream stderr,
      @Named("env") Map<String, String> env, @Named("installSignalHandler") Boolean installSignalHandler,
      @Named("workingDir") Path workingDir) {
    this.workingDir = workingDir;
    this.stdout = stdout;
    this.stderr = stderr;
    this.env = env;
    this.installSignalHandler = installSignalHandler;
  }

  @Override
  public Integer call() throws Exception {
    if (workers < 1 || workers > MAX_WORKERS) {
      throw new ConfigException("--workers " + workers + " is out of range; use 1.." + MAX_WORKERS);
    }
    for (String a : trainArgs) {
      if (a.equals("--cluster") || a.startsWith("--cluster=") || a.equals("--task") || a.startsWith("--task=")) {
        throw new ConfigException("launch sets the cluster itself; drop " + a.split("=")[0]
            + " (use 'train --cluster ... --task i' to start workers by hand)");
      }
    }
    List<String> command = workerCommand();
    try (LocalWorkers w = LocalWorkers.start(workers, i -> command, workingDir, env, stdout, stderr)) {
      Thread cleanup = new Thread(w::close, "launch-cleanup");
      Runtime.getRuntime().addShutdownHook(cleanup);
      if (installSignalHandler) {
        forwardInterrupts(w);
      }
      stderr.println("launch: " + workers + " worker(s) on " + String.join(",",
          w.cluster().workers().stream().map(Object::toString).toList()) + "; showing worker 0");
      LocalWorkers.Outcome outcome = w.await(Duration.ofSeconds(graceSeconds), stderr);
      Runtime.getRuntime().removeShutdownHook(cleanup);
      if (outcome.code() == 0) {
        return 0;
      }
      boolean allInterrupted = w.processes().stream().allMatch(p -> p.exitValue() == Main.EXIT_INTERRUPTED);
      if (allInterrupted) {
        stdout.println("launch: every worker stopped; continue with: leviathan launch --workers " + workers + " "
            + String.join(" ", resumeArgs()));
        return Main.EXIT_INTERRUPTED;
      }
      stderr.println("error: " + outcome.failure() + "; the other workers were stopped; continue with: leviathan"
          + " launch --workers " + workers + " " + String.join(" ", resumeArgs()));
      return Main.EXIT_ERROR;
    }
  }

  /** The train arguments with {@code --resume} (once). */
  private List<String> resumeArgs() {
    List<String> args = new ArrayList<>(trainArgs);
    if (!args.contains("--resume")) {
      args.add("--resume");
    }
    return args;
  }

  private void forwardInterrupts(LocalWorkers w) {
    AtomicInteger count = new AtomicInteger();
    try {
      Signal.handle(new Signal("INT"), sig -> {
        if (count.incrementAndGet() == 1) {
          stderr.println("\ninterrupt: every worker stops after the same step and worker 0 writes a checkpoint"
              + " (Ctrl-C again to quit at once)");
        } else {
          stderr.println("\ninterrupted again: stopping every worker without a checkpoint");
        }
        w.interrupt();
      });
    } catch (IllegalArgumentException e) {
      // No SIGINT on this platform: Ctrl-C reaches the workers directly (same process group).
    }
  }

  /** This Java, its JVM options and class path, running {@code leviathan train <args>}. */
  List<String> workerCommand() {
    List<String> args = new ArrayList<>();
    if (parent != null && parent.debug()) {
      args.add("--debug");
    }
    if (parent != null) {
      for (Path p : parent.pluginDirs()) {
        args.add("--plugins");
        args.add(workingDir.resolve(p).toAbsolutePath().toString());
      }
    }
    args.add("train");
    args.addAll(trainArgs);
    return leviathan(args);
  }

  /** {@code leviathan <args>} run by this Java with its JVM options and class path. */
  public static List<String> leviathan(List<String> args) {
    List<String> c = new ArrayList<>();
    c.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if ((a.startsWith("-X") || a.startsWith("-D")) && !a.startsWith("-Xrunjdwp") && !a.startsWith("-Xdebug")) {
        c.add(a);
      }
    }
    c.add("-cp");
    c.add(System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")));
    c.add(Main.class.getName());
    c.addAll(args);
    return c;
  }
}
