package dev.leviathan.app.bench;

import dev.leviathan.core.plugin.PluginLoadResult;
import dev.leviathan.core.plugin.PluginLoader;
import dev.leviathan.trainer.ConfigLoader;
import dev.leviathan.trainer.ModelRuntime;
import dev.leviathan.trainer.ConfigLoader.ConfigValue;
import dev.leviathan.trainer.RunSpec;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Random;

/**
 * Measures one benchmark configuration; {@link BenchCommand} runs it in a fresh JVM per configuration
 * so that no configuration inherits another's memory, caches or compiled code.
 *
 * <p>It builds the model with its loss, gradients and AdamW update through {@link ModelRuntime} on a
 * vocabulary of {@value #VOCAB} tokens, initialises it and feeds one batch of random tokens:
 *
 * <ol>
 *   <li>resets the process's peak resident set ({@link ProcMemory#resetPeak()}) and reads the resident
 *       set: the <em>base</em>, i.e. the JVM, TensorFlow, the graph and the initialised variables;
 *   <li>runs {@code warmup} training steps, then {@code steps} timed training steps;
 *   <li>reads the peak resident set: {@code peak_mb} is that peak minus the base, the extra memory the
 *       training steps needed: activations, gradients and optimiser temporaries, plus the state
 *       TensorFlow keeps from its first run of the step (optimised graph, kernels, thread buffers: tens of
 *       MB that do not grow with the context);
 *   <li>runs one untimed and then {@code steps} timed forward passes (logits and loss, no gradients);
 *   <li>with a profile path, runs {@code steps} more training steps with TensorFlow's full trace and
 *       writes their {@link StepProfile}.
 * </ol>
 *
 * The first training step (TensorFlow optimises the graph on it) is reported on its own as
 * {@code first_step_ms}; {@code rss_mb} is the peak resident set of the whole process.
 *
 * Output protocol on stdout, one line each: {@code bench-built params=N} once the model is built,
 * then {@code bench-result key=value ...} on success or {@code bench-failure oom|error MESSAGE} (exit
 * code {@value WorkerIo#EXIT_OOM} for out-of-memory, 1 for other errors).
 */
public final class BenchWorker {
  /** Vocabulary size of the synthetic tokens (that of the character-level tiny Shakespeare). */
  public static final int VOCAB = 65;
  static final String BUILT = "bench-built";
  static final String RESULT = "bench-result";
  static final String FAILURE = "bench-failure";

  private BenchWorker() {}

  /** One configuration to measure. */
  record Job(String mixer, int context, int batch, int width, int layers, int warmup, int steps, long seed,
      List<Path> plugins, List<String> sets, Path config, Path profile) {

    /** The run spec of this job: its mixer and shape as typed values, then the {@code --set} overrides. */
    RunSpec spec() {
      List<ConfigValue> values = new ArrayList<>(ConfigValue.mixer(mixer, false));
      values.addAll(List.of(new ConfigValue("context", context), new ConfigValue("width", width),
          new ConfigValue("layers", layers), new ConfigValue("batch", batch), new ConfigValue("seed", seed)));
      return ConfigLoader.load(config, values, sets);
    }

    List<String> toArgs() {
      List<String> a = new ArrayList<>(List.of("--mixer", mixer, "--context", str(context), "--batch", str(batch),
          "--width", str(width), "--layers", str(layers), "--warmup", str(warmup), "--steps", str(steps),
          "--seed", Long.toString(seed)));
      plugins.forEach(p -> a.addAll(List.of("--plugins", p.toString())));
      if (config != null) {
        a.addAll(List.of("--config", config.toString()));
      }
      if (profile != null) {
        a.addAll(List.of("--profile", profile.toString()));
      }
      sets.forEach(s -> a.addAll(List.of("--set", s)));
      return a;
    }

    static Job parse(String[] args) {
      if (args.length % 2 != 0) {
        throw new IllegalArgumentException("bench worker arguments come in pairs, got " + Arrays.toString(args));
      }
      Map<String, String> one = new LinkedHashMap<>();
      List<Path> plugins = new ArrayList<>();
      List<String> sets = new ArrayList<>();
      for (int i = 0; i + 1 < args.length; i += 2) {
        switch (args[i]) {
          case "--plugins" -> plugins.add(Path.of(args[i + 1]));
          case "--set" -> sets.add(args[i + 1]);
          default -> one.put(args[i], args[i + 1]);
        }
      }
      return new Job(required(one, "--mixer"), num(one, "--context"), num(one, "--batch"), num(one, "--width"),
          num(one, "--layers"), num(one, "--warmup"), num(one, "--steps"), Long.parseLong(required(one, "--seed")),
          plugins, sets, one.containsKey("--config") ? Path.of(one.get("--config")) : null,
          one.containsKey("--profile") ? Path.of(one.get("--profile")) : null);
    }

    private static String str(int v) {
      return Integer.toString(v);
    }

    private static String required(Map<String, String> m, String key) {
      String v = m.get(key);
      if (v == null) {
        throw new IllegalArgumentException("bench worker needs " + key);
      }
      return v;
    }

    private static int num(Map<String, String> m, String key) {
      return Integer.parseInt(required(m, key));
    }
  }

  public static void main(String[] args) {
    WorkerIo.runWorker(FAILURE, out -> measure(Job.parse(args), out));
  }

  static void measure(Job job, PrintStream out) {
    try (PluginLoadResult plugins = new PluginLoader(BenchWorker.class.getClassLoader(),
        PluginLoader.timeLimit(System.getenv(PluginLoader.TIME_LIMIT_VARIABLE))).discover(job.plugins())) {
      RunSpec spec = job.spec();
      try (ModelRuntime rt = ModelRuntime.create(spec.resolve(plugins.registry()).model(VOCAB), spec, true)) {
        rt.initialize(spec.schedule().seed());
        long params = rt.parameters().count();
        out.println(BUILT + " params=" + params);
        out.flush();

        Random random = new Random(job.seed());
        int[] x = new int[job.batch() * job.context()];
        int[] y = new int[x.length];
        for (int i = 0; i < x.length; i++) {
          x[i] = random.nextInt(VOCAB);
          y[i] = random.nextInt(VOCAB);
        }

        System.gc();
        OptionalLong buildPeakKb = ProcMemory.peakKb("self");
        boolean reset = ProcMemory.resetPeak();
        OptionalLong baseKb = ProcMemory.residentKb("self");
        long step = 0;
        double firstStepMs = Double.NaN;
        for (int i = 0; i < job.warmup(); i++) {
          long t0 = System.nanoTime();
          rt.step(x, y, job.batch(), step++, spec.optimizer().lr(), spec.schedule().seed());
          if (i == 0) {
            firstStepMs = (System.nanoTime() - t0) / 1e6;
          }
        }
        double[] stepMs = new double[job.steps()];
        // CPU time over all timed steps, reported as their mean (on systems without /proc it has 10 ms ticks)
        long cpu0 = ProcCpu.nanos();
        for (int i = 0; i < job.steps(); i++) {
          long t0 = System.nanoTime();
          rt.step(x, y, job.batch(), step++, spec.optimizer().lr(), spec.schedule().seed());
          stepMs[i] = (System.nanoTime() - t0) / 1e6;
          if (Double.isNaN(firstStepMs)) {
            firstStepMs = stepMs[i];
          }
        }
        double cpuMs = (ProcCpu.nanos() - cpu0) / 1e6 / job.steps();
        OptionalLong peakKb = ProcMemory.peakKb("self");

        rt.loss(x, y, job.batch());
        double[] forwardMs = new double[job.steps()];
        for (int i = 0; i < job.steps(); i++) {
          long t0 = System.nanoTime();
          rt.loss(x, y, job.batch());
          forwardMs[i] = (System.nanoTime() - t0) / 1e6;
        }

        Map<String, String> r = new LinkedHashMap<>();
        r.put("params", Long.toString(params));
        r.put("step_ms", fmt(median(stepMs)));
        if (cpu0 >= 0) {
          r.put("cpu_ms", fmt(cpuMs));
        }
        r.put("forward_ms", fmt(median(forwardMs)));
        r.put("first_step_ms", fmt(firstStepMs));
        if (baseKb.isPresent() && peakKb.isPresent()) {
          r.put("base_mb", fmt(baseKb.getAsLong() / 1024.0));
          r.put("hwm_mb", fmt(peakKb.getAsLong() / 1024.0));
          r.put("peak_mb", fmt(Math.max(0, peakKb.getAsLong() - baseKb.getAsLong()) / 1024.0));
          r.put("peak_reset", Boolean.toString(reset));
          r.put("rss_mb", fmt(Math.max(buildPeakKb.orElse(0), peakKb.getAsLong()) / 1024.0));
        }
        if (job.profile() != null) {
          profile(rt, job, spec, x, y, step, median(stepMs));
        }
        StringBuilder line = new StringBuilder(RESULT);
        r.forEach((k, v) -> line.append(' ').append(k).append('=').append(v));
        out.println(line);
      }
    }
  }

  /**
   * Runs {@code steps} more training steps with TensorFlow's full trace and writes their {@link StepProfile}
   * as CSV to the job's profile path and as a readable summary next to it ({@code .txt}).
   */
  static void profile(ModelRuntime rt, Job job, RunSpec spec, int[] x, int[] y, long step, double stepMs) {
    List<org.tensorflow.proto.RunMetadata> traces = new ArrayList<>();
    for (int i = 0; i < job.steps(); i++) {
      traces.add(rt.tracedStep(x, y, job.batch(), step + i, spec.optimizer().lr(), spec.schedule().seed()).metadata());
    }
    StepProfile p = StepProfile.of(traces);
    int nodes = rt.graphNodes();
    Path csv = job.profile();
    String name = csv.getFileName().toString();
    Path txt = csv.resolveSibling((name.endsWith(".csv") ? name.substring(0, name.length() - 4) : name) + ".txt");
    dev.leviathan.trainer.AtomicFiles.write(csv, p.csv(nodes, stepMs));
    dev.leviathan.trainer.AtomicFiles.write(txt, p.summary(nodes, stepMs, 25));
  }

  /** The median (mean of the two middle values for an even count). */
  static double median(double[] values) {
    double[] s = values.clone();
    Arrays.sort(s);
    int n = s.length;
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }

  private static String fmt(double v) {
    return String.format(Locale.ROOT, "%.4f", v);
  }
}
