package dev.leviathan.app.bench;

import dev.leviathan.trainer.AtomicFiles;

import com.google.inject.Inject;
import com.google.inject.name.Named;
import dev.leviathan.core.registry.GuardedMixers;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.registry.ProviderInfo;
import dev.leviathan.trainer.RunDirectory;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code leviathan bench}: time and memory of a training step per mixer and context, each
 * configuration measured by {@link BenchWorker} in a fresh JVM.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Measure step time, tokens/s, forward time, parameters and peak memory per mixer and context.",
        "Random tokens (vocabulary " + BenchWorker.VOCAB + "); every configuration runs in a fresh JVM."},
    footer = {"",
        "CSV columns: mixer,context,batch,width,layers,params,step_ms,tokens_per_sec,",
        "             forward_ms,peak_mb,first_step_ms,rss_mb,status,runs,step_ms_min,",
        "             step_ms_max,cpu_ms",
        "  step_ms         median time of the timed training steps (forward, loss,",
        "                  gradients, AdamW update)",
        "  tokens_per_sec  batch * context / step time",
        "  forward_ms      median time of a forward pass with the loss, no gradients",
        "  peak_mb         peak resident memory of the worker during the training steps",
        "                  (Linux VmHWM, reset just before the first step) minus its",
        "                  resident memory at that moment (JVM, TensorFlow, graph,",
        "                  variables): the extra memory the steps need",
        "  first_step_ms   the first training step, which includes TensorFlow's graph",
        "                  optimisation (never part of step_ms or tokens_per_sec)",
        "  rss_mb          peak resident memory of the whole worker process",
        "  status          ok, oom (out of memory, or over --max-memory), timeout (over",
        "                  --time-limit) or error; the numbers are empty unless ok",
        "  runs            finished runs of the configuration (--repeat); every number",
        "                  above is the median over them",
        "  step_ms_min/max the fastest and slowest run's step_ms: how noisy the machine was",
        "  cpu_ms          CPU time of the worker per timed step (mean), all threads: less",
        "                  disturbed than step_ms when other work shares the machine",
        "FILE.png next to FILE.csv: step time and peak memory against context, log-log.",
        "",
        "--generate measures cached generation instead (one JVM per mixer, model without",
        "position embedding): CSV columns mixer,position,batch,width,layers,context,path,",
        "tokens_per_sec,rss_mb,rss_growth_mb,status; path is step (every layer steps) or",
        "recompute (a layer without a step function); status limit = past the position limit.",
        "--profile: FILE-profile-MIXER-T.csv and .txt next to FILE.csv: where a",
        "  traced step's time goes, per op type, per model scope and per node, and the",
        "  megabytes each scope keeps for the backward pass (see docs/writing-a-mixer.md);",
        "  with --repeat, from the first round."})
public final class BenchCommand implements Callable<Integer> {
  /** Config keys that bench sets for each configuration, and the option that chooses them. */
  private static final Map<String, String> OWN_KEYS = Map.of("token-mixer", "--mixers", "token-mixers", "--mixers",
      "context", "--context", "width", "--width", "layers", "--layers", "batch", "--batch", "seed", "--seed");

  @Option(names = "--mixers", split = ",", paramLabel = "NAME",
      description = "Token mixers to measure (default: every causal built-in token mixer).")
  List<String> mixers = new ArrayList<>();

  @Option(names = "--context", split = ",", paramLabel = "T",
      description = "Context lengths (default: ${DEFAULT-VALUE}).")
  List<Integer> contexts = new ArrayList<>(List.of(256, 1024, 4096));

  @Option(names = "--batch", paramLabel = "N", description = "Sequences per step (default: ${DEFAULT-VALUE}).")
  int batch = 1;

  @Option(names = "--width", paramLabel = "N", description = "Model width (default: ${DEFAULT-VALUE}).")
  int width = 128;

  @Option(names = "--layers", paramLabel = "N", description = "Layers (default: ${DEFAULT-VALUE}).")
  int layers = 4;

  @Option(names = "--warmup", paramLabel = "N", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
  int warmup = 2;

  @Option(names = "--steps", paramLabel = "N", description = "Timed steps (default: ${DEFAULT-VALUE}).")
  int steps = 5;

  @Option(names = "--repeat", paramLabel = "N",
      description = "Runs of every configuration, each in a fresh JVM, in rounds (every configuration once per round,"
          + " so a machine that drifts touches them all alike); the table has the medians and the range of step"
          + " times (default: ${DEFAULT-VALUE}).")
  int repeat = 1;

  @Option(names = "--time-limit", paramLabel = "SECONDS",
      description = "Wall-time limit of one configuration, JVM start included (default: ${DEFAULT-VALUE}).")
  double timeLimit = 600;

  @Option(names = "--max-memory", paramLabel = "MB",
      description = "Resident-memory limit of one configuration's process (default: 80%% of physical memory).")
  Long maxMemoryMb;

  @Option(names = "--heap", paramLabel = "MB",
      description = "Java heap of each worker JVM; TensorFlow's tensors live outside it (default: ${DEFAULT-VALUE}).")
  int heapMb = 512;

  @Option(names = "--seed", paramLabel = "N", description = "Seed of the weights and tokens (default: ${DEFAULT-VALUE}).")
  long seed = 1;

  @Option(names = "--set", paramLabel = "key=value",
      description = "Config override for every configuration, e.g. intra-op-threads=2 or norm=rmsnorm (repeatable).")
  List<String> sets = new ArrayList<>();

  @Option(names = "--config", paramLabel = "FILE.yaml",
      description = "Start every configuration from this config (e.g. configs/nanogpt-cpu.yaml: norm, dropout,"
          + " embeddings, optimiser); the bench options still set mixer, context, width, layers and batch.")
  Path config;

  @Option(names = "--profile",
      description = "Also run --steps training steps with TensorFlow's full trace and report where the time goes"
          + " and what each scope keeps for the backward pass.")
  boolean profile;

  @Option(names = "--out", paramLabel = "FILE.csv",
      description = "Result table (default: runs/bench-<timestamp>/bench.csv).")
  Path out;

  @CommandLine.Mixin
  GenerateBench.Options generate = new GenerateBench.Options();

  @Spec
  CommandSpec spec;

  private final MixerRegistry registry;
  private final PrintStream stdout;
  private final Path workingDir;
  private final List<Path> pluginDirs;

  /** @param pluginDirs this process's plugin folders, absolute; every worker loads the same ones */
  @Inject
  BenchCommand(MixerRegistry registry, @Named("out") PrintStream stdout, @Named("workingDir") Path workingDir,
      @Named("pluginDirs") List<Path> pluginDirs) {
    this.registry = registry;
    this.stdout = stdout;
    this.workingDir = workingDir;
    this.pluginDirs = pluginDirs;
  }

  @Override
  public Integer call() {
    validateOptions();
    List<String> names = mixerNames();
    if (generate.enabled) {
      return generate(names);
    }
    List<Integer> ctx = contexts.stream().distinct().sorted().toList();
    List<Path> plugins = pluginDirs;
    for (String name : names) {
      for (int t : ctx) {
        // Fails here, before any process starts, on a bad --set or an option that the mixer refuses.
        job(name, t, plugins, null).spec().resolve(registry);
      }
    }
    Path csv = out != null ? workingDir.resolve(out).normalize() : defaultOut();
    Path png = csv.resolveSibling(WorkerIo.stripCsv(csv.getFileName().toString()) + ".png");
    long limitKb = maxMemoryMb != null ? maxMemoryMb * 1024 : ProcMemory.totalKb().orElse(0) * 8 / 10;

    int total = names.size() * ctx.size();
    stdout.printf(Locale.ROOT, "bench: %d configuration(s): %s x context %s | batch %d, width %d, layers %d |"
            + " %d warm-up + %d timed steps%s | limits %s s, %s per configuration%n", total, String.join(",", names),
        ctx, batch, width, layers, warmup, steps, repeat > 1 ? " | " + repeat + " rounds" : "", WorkerIo.trim(timeLimit),
        limitKb > 0 ? limitKb / 1024 + " MB" : "no memory limit");
    Map<String, List<BenchRow>> runs = new java.util.LinkedHashMap<>();
    List<BenchRow> rows = new ArrayList<>();
    for (int round = 1; round <= repeat; round++) {
      int i = 0;
      for (String name : names) {
        for (int t : ctx) {
          i++;
          stdout.printf(Locale.ROOT, "[%d/%d] %s, context %d%s ... ", i, total, name, t,
              repeat > 1 ? " (round " + round + "/" + repeat + ")" : "");
          stdout.flush();
          Path profileCsv = profile && round == 1 ? csv.resolveSibling(String.format(Locale.ROOT, "%s-profile-%s-%d.csv",
              WorkerIo.stripCsv(csv.getFileName().toString()), name, t)) : null;
          Measured m = run(job(name, t, plugins, profileCsv), limitKb);
          runs.computeIfAbsent(name + "\u0000" + t, k -> new ArrayList<>()).add(m.row());
          stdout.println(describe(m));
          if (profileCsv != null && m.row().ok()) {
            Path txt = profileCsv.resolveSibling(WorkerIo.stripCsv(profileCsv.getFileName().toString()) + ".txt");
            stdout.println(String.join("\n", WorkerIo.lines(txt)));
            stdout.println("wrote " + profileCsv);
          }
          rows = runs.values().stream().map(BenchRow::combine).toList();
          writeCsv(csv, rows);
        }
      }
    }
    Charts.bench(rows, String.format(Locale.ROOT, " (batch %d, width %d, layers %d)", batch, width, layers), png);
    stdout.println();
    stdout.print(Reports.table(List.of(BenchRow.HEADER.split(",")), rows.stream().map(BenchRow::cells).toList()));
    stdout.println();
    stdout.println("wrote " + csv + " and " + png);
    stdout.println("peak_mb = peak resident memory during the training steps minus the resident memory before the"
        + " first step (model built and initialised)");
    return 0;
  }

  /** {@code bench --generate}: see {@link GenerateBench}. */
  private int generate(List<String> names) {
    String bad = GenerateBench.check(generate);
    if (bad != null) {
      throw new ParameterException(spec.commandLine(), bad);
    }
    for (String name : names) {
      GenerateBench.spec(name, generate, batch, width, layers, seed, sets).resolve(registry);
    }
    Path csv = out != null ? workingDir.resolve(out).normalize() : defaultOut().resolveSibling("generate.csv");
    return new GenerateBench(stdout, workingDir, heapMb, timeLimit)
        .run(generate, names, batch, width, layers, seed, pluginDirs, sets, csv);
  }

  private void validateOptions() {
    CommandLine cl = spec.commandLine();
    if (contexts.isEmpty() || contexts.stream().anyMatch(c -> c < 1)) {
      throw new ParameterException(cl, "--context needs positive context lengths, got " + contexts);
    }
    if (steps < 1) {
      throw new ParameterException(cl, "--steps must be >= 1, got " + steps);
    }
    if (repeat < 1) {
      throw new ParameterException(cl, "--repeat must be >= 1, got " + repeat);
    }
    if (warmup < 0) {
      throw new ParameterException(cl, "--warmup must be >= 0, got " + warmup);
    }
    if (!(timeLimit > 0)) {
      throw new ParameterException(cl, "--time-limit must be > 0 seconds, got " + WorkerIo.trim(timeLimit));
    }
    if (maxMemoryMb != null && maxMemoryMb < 1) {
      throw new ParameterException(cl, "--max-memory must be >= 1 MB, got " + maxMemoryMb);
    }
    if (heapMb < 64) {
      throw new ParameterException(cl, "--heap must be >= 64 MB, got " + heapMb);
    }
    for (String s : sets) {
      String key = s.contains("=") ? s.substring(0, s.indexOf('=')).strip() : s;
      String option = OWN_KEYS.get(key);
      if (option != null) {
        throw new ParameterException(cl, "--set " + key + " is not allowed here: bench sets it per configuration;"
            + " use " + option);
      }
    }
  }


  /** The requested mixers (checked against the registry), or every causal built-in token mixer. */
  private List<String> mixerNames() {
    if (mixers.isEmpty()) {
      List<String> all = registry.tokenMixers().stream()
          .filter(p -> p.origin().builtIn() && GuardedMixers.of(p).causal())
          .map(ProviderInfo::name).toList();
      if (all.isEmpty()) {
        throw new IllegalStateException("no causal built-in token mixer is installed; name mixers with --mixers");
      }
      return all;
    }
    LinkedHashSet<String> names = new LinkedHashSet<>();
    for (String m : mixers) {
      String name = m.strip();
      registry.tokenMixer(name);
      names.add(name);
    }
    return List.copyOf(names);
  }

  private BenchWorker.Job job(String mixer, int context, List<Path> plugins, Path profileCsv) {
    return new BenchWorker.Job(mixer, context, batch, width, layers, warmup, steps, seed, plugins, sets,
        configFile(), profileCsv);
  }

  private Path configFile() {
    return config == null ? null : workingDir.resolve(config).toAbsolutePath().normalize();
  }

  /** A configuration's outcome and, when it failed, why. */
  record Measured(BenchRow row, String detail) {}

  private Measured run(BenchWorker.Job job, long limitKb) {
    Path stdoutFile;
    Path stderrFile;
    try {
      stdoutFile = Files.createTempFile("leviathan-bench-", ".out");
      stderrFile = Files.createTempFile("leviathan-bench-", ".err");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a temporary file: " + e.getMessage(), e);
    }
    try {
      return runWorker(job, limitKb, stdoutFile, stderrFile);
    } finally {
      try {
        Files.deleteIfExists(stdoutFile);
        Files.deleteIfExists(stderrFile);
      } catch (IOException e) {
        // Temporary files only: the system cleans them up eventually.
      }
    }
  }

  private Measured runWorker(BenchWorker.Job job, long limitKb, Path stdoutFile, Path stderrFile) {
    boolean timedOut = false;
    boolean overMemory = false;
    long peakSeenKb = 0;
    Process p;
    try (WorkerIo.Worker w = WorkerIo.start(workingDir, List.of("-Xms" + heapMb + "m", "-Xmx" + heapMb + "m",
        "-XX:+AlwaysPreTouch", "-XX:+UseSerialGC"), BenchWorker.class, job.toArgs(), stdoutFile, stderrFile)) {
      p = w.process;
      try {
        long deadline = System.nanoTime() + (long) (timeLimit * 1e9);
        String pid = Long.toString(p.pid());
        while (!p.waitFor(50, TimeUnit.MILLISECONDS)) {
          OptionalLong rss = ProcMemory.residentKb(pid);
          peakSeenKb = Math.max(peakSeenKb, rss.orElse(0));
          if (limitKb > 0 && rss.isPresent() && rss.getAsLong() > limitKb) {
            overMemory = true;
            break;
          }
          if (System.nanoTime() > deadline) {
            timedOut = true;
            break;
          }
        }
        if (timedOut || overMemory) {
          p.destroyForcibly();
          p.waitFor();
        }
      } catch (InterruptedException e) {
        p.destroyForcibly();
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for the bench worker");
      }
    }
    return outcome(job, p.exitValue(), timedOut, overMemory, peakSeenKb, limitKb, stdoutFile, stderrFile);
  }

  private Measured outcome(BenchWorker.Job job, int exit, boolean timedOut, boolean overMemory, long peakSeenKb,
      long limitKb, Path stdoutFile, Path stderrFile) {
    Long params = null;
    Map<String, String> result = null;
    String failureKind = null;
    String failure = null;
    for (String line : WorkerIo.lines(stdoutFile)) {
      if (line.startsWith(BenchWorker.BUILT + " ")) {
        params = Long.parseLong(WorkerIo.keyValues(line).get("params"));
      } else if (line.startsWith(BenchWorker.RESULT + " ")) {
        result = WorkerIo.keyValues(line);
      } else if (line.startsWith(BenchWorker.FAILURE + " ")) {
        String rest = line.substring(BenchWorker.FAILURE.length() + 1);
        int sp = rest.indexOf(' ');
        failureKind = sp < 0 ? rest : rest.substring(0, sp);
        failure = sp < 0 ? "" : rest.substring(sp + 1);
      }
    }
    if (overMemory) {
      return failed(job, params, BenchRow.OOM, "resident memory passed --max-memory " + limitKb / 1024 + " MB");
    }
    if (timedOut) {
      return failed(job, params, BenchRow.TIMEOUT, "over the time limit of " + WorkerIo.trim(timeLimit) + " s");
    }
    if (exit == 0 && result != null) {
      double stepMs = Double.parseDouble(result.get("step_ms"));
      Double peak = result.containsKey("peak_mb") ? Double.parseDouble(result.get("peak_mb")) : null;
      String detail = result.containsKey("base_mb")
          ? "before the first step " + Reports.number(Double.parseDouble(result.get("base_mb")), 1) + " MB resident"
          : "no /proc memory data";
      if ("false".equals(result.get("peak_reset"))) {
        detail += "; the peak could not be reset, so it may include graph construction";
      }
      BenchRow row = new BenchRow(job.mixer(), job.context(), job.batch(), job.width(), job.layers(),
          Long.parseLong(result.get("params")), stepMs, job.batch() * (double) job.context() / (stepMs / 1000),
          Double.parseDouble(result.get("forward_ms")), peak, optional(result, "first_step_ms"),
          optional(result, "rss_mb"), BenchRow.OK, 1, stepMs, stepMs, optional(result, "cpu_ms"));
      return new Measured(row, detail);
    }
    if (BenchRow.OOM.equals(failureKind)) {
      return failed(job, params, BenchRow.OOM, failure);
    }
    if (exit == 137 || exit == 128 + 9) {
      return failed(job, params, BenchRow.OOM, "killed by the operating system (SIGKILL), most likely out of memory;"
          + " largest resident set seen " + peakSeenKb / 1024 + " MB");
    }
    String why = failure != null ? failure : WorkerIo.lastLine(stderrFile);
    return failed(job, params, BenchRow.ERROR, (why.isEmpty() ? "" : why + "; ") + "worker exit code " + exit);
  }

  private static Measured failed(BenchWorker.Job job, Long params, String status, String detail) {
    return new Measured(new BenchRow(job.mixer(), job.context(), job.batch(), job.width(), job.layers(), params, null,
        null, null, null, null, null, status, 0, null, null, null), detail);
  }

  private static Double optional(Map<String, String> result, String key) {
    String v = result.get(key);
    return v == null ? null : Double.parseDouble(v);
  }

  private static String describe(Measured m) {
    BenchRow r = m.row();
    if (r.ok()) {
      return String.format(Locale.ROOT, "%.1f ms/step (cpu %s ms), %.0f tokens/s, forward %.1f ms, peak %s MB,"
              + " process peak %s MB, first step %s ms (%s)", r.stepMs(),
          r.cpuMs() == null ? "?" : Reports.number(r.cpuMs(), 1), r.tokensPerSec(), r.forwardMs(),
          r.peakMb() == null ? "?" : Reports.number(r.peakMb(), 1), r.rssMb() == null ? "?" : Reports.number(r.rssMb(), 1),
          Reports.number(r.firstStepMs(), 0), m.detail());
    }
    return r.status() + ": " + m.detail();
  }

  private static void writeCsv(Path csv, List<BenchRow> rows) {
    StringBuilder sb = new StringBuilder(BenchRow.HEADER).append('\n');
    rows.forEach(r -> sb.append(r.csv()).append('\n'));
    AtomicFiles.write(csv, sb.toString());
  }

  private Path defaultOut() {
    return RunDirectory.createIn(workingDir, "bench-", "").resolve("bench.csv");
  }
}
