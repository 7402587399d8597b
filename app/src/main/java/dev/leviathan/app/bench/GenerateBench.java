package dev.leviathan.app.bench;

import dev.leviathan.core.plugin.PluginLoadResult;
import dev.leviathan.core.plugin.PluginLoader;
import dev.leviathan.trainer.AtomicFiles;
import dev.leviathan.trainer.ConfigLoader;
import dev.leviathan.trainer.Generator;
import dev.leviathan.trainer.ModelRuntime;
import dev.leviathan.trainer.ConfigLoader.ConfigValue;
import dev.leviathan.trainer.RunSpec;
import java.awt.BasicStroke;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;
import picocli.CommandLine.Option;

/**
 * {@code leviathan bench --generate}: cached generation speed and memory against position, per token
 * mixer, each mixer measured in a fresh JVM ({@link #main}).
 *
 * <p>The model has no learned position embedding, so a mixer whose step carries a constant-size state
 * (or a cache without position-dependent parameters) can generate past the model's context. The worker
 * reads a one-token prompt per sequence, runs {@value #WARMUP_STEPS} untimed steps (fewer when the
 * position limit is smaller) on a sequence of its own, then generates greedily with one
 * {@link Generator} step per token up to the largest requested position. At each requested position
 * {@code p} it reports the tokens per second of the steps since the previous requested position
 * ({@code batch / median step time}, each step being the logits read-out, the greedy choice and one
 * {@code Session.run}; the median resists other processes' bursts) and the resident set of the
 * process ({@code VmRSS}); {@code
 * rss_growth_mb} is that minus the resident set right after the prompt was read. Positions beyond the
 * model's position limit (a mixer without a step function, or with position-dependent parameters,
 * stops at the context) are recorded with status {@code limit}.
 */
public final class GenerateBench {
  static final String HEADER =
      "mixer,position,batch,width,layers,context,path,tokens_per_sec,rss_mb,rss_growth_mb,status";
  static final String POINT = "generate-point";
  static final String BUILT = "generate-built";
  static final String LIMIT = "generate-limit";
  static final String FAILURE = "generate-failure";
  static final int WARMUP_STEPS = 64;

  /** The {@code bench} options of generation mode. */
  public static final class Options {
    @Option(names = "--generate",
        description = "Measure cached generation instead of training: tokens/s and resident memory against position.")
    boolean enabled;

    @Option(names = "--positions", split = ",", paramLabel = "P",
        description = "With --generate: positions at which to measure (default: ${DEFAULT-VALUE}).")
    List<Integer> positions = new ArrayList<>(List.of(64, 256, 1024, 4096));

    @Option(names = "--generate-context", paramLabel = "T",
        description = "With --generate: the model's context; mixers limited by it stop there (default: ${DEFAULT-VALUE}).")
    int context = 256;
  }

  /** One CSV row. Numbers are null unless {@code status} is ok. */
  record Row(String mixer, int position, int batch, int width, int layers, int context, String path,
      Double tokensPerSec, Double rssMb, Double rssGrowthMb, String status) {
    List<String> cells() {
      return List.of(mixer, Integer.toString(position), Integer.toString(batch), Integer.toString(width),
          Integer.toString(layers), Integer.toString(context), path, Reports.number(tokensPerSec, 1),
          Reports.number(rssMb, 1), Reports.number(rssGrowthMb, 1), status);
    }
  }

  /** What the worker needs; also its command line. */
  record Job(String mixer, int context, int batch, int width, int layers, long seed, List<Integer> positions,
      List<Path> plugins, List<String> sets) {
    List<String> toArgs() {
      List<String> a = new ArrayList<>(List.of(mixer, Integer.toString(context), Integer.toString(batch),
          Integer.toString(width), Integer.toString(layers), Long.toString(seed),
          String.join(",", positions.stream().map(String::valueOf).toList()), Integer.toString(plugins.size())));
      plugins.forEach(p -> a.add(p.toString()));
      a.addAll(sets);
      return a;
    }

    static Job parse(String[] a) {
      int n = Integer.parseInt(a[7]);
      List<Path> plugins = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        plugins.add(Path.of(a[8 + i]));
      }
      List<String> sets = List.of(a).subList(8 + n, a.length);
      return new Job(a[0], Integer.parseInt(a[1]), Integer.parseInt(a[2]), Integer.parseInt(a[3]),
          Integer.parseInt(a[4]), Long.parseLong(a[5]),
          List.of(a[6].split(",")).stream().map(Integer::parseInt).toList(), plugins, sets);
    }

    /** The run spec of this job: its mixer and shape as typed values, then the {@code --set} overrides. */
    RunSpec spec() {
      List<ConfigValue> values = new ArrayList<>(ConfigValue.mixer(mixer, false));
      values.addAll(List.of(new ConfigValue("context", context), new ConfigValue("width", width),
          new ConfigValue("layers", layers), new ConfigValue("batch", batch), new ConfigValue("seed", seed),
          new ConfigValue("position-embedding", false)));
      return ConfigLoader.load(null, values, sets);
    }
  }

  private final PrintStream stdout;
  private final Path workingDir;
  private final int heapMb;
  private final double timeLimit;

  GenerateBench(PrintStream stdout, Path workingDir, int heapMb, double timeLimit) {
    this.stdout = stdout;
    this.workingDir = workingDir;
    this.heapMb = heapMb;
    this.timeLimit = timeLimit;
  }

  /** Checks the generation options; returns an error message or null. */
  static String check(Options o) {
    if (o.positions.isEmpty() || o.positions.stream().anyMatch(p -> p < 2)) {
      return "--positions needs positions >= 2 (one prompt token, then generated ones), got " + o.positions;
    }
    if (o.context < 1) {
      return "--generate-context must be >= 1, got " + o.context;
    }
    return null;
  }

  /** A job's run spec, for checking it before any worker starts. */
  static RunSpec spec(String mixer, Options o, int batch, int width, int layers, long seed, List<String> sets) {
    return new Job(mixer, o.context, batch, width, layers, seed, o.positions, List.of(), sets).spec();
  }

  int run(Options o, List<String> mixers, int batch, int width, int layers, long seed, List<Path> plugins,
      List<String> sets, Path csv) {
    List<Integer> positions = o.positions.stream().distinct().sorted().toList();
    Path png = csv.resolveSibling(WorkerIo.stripCsv(csv.getFileName().toString()) + ".png");
    stdout.printf(Locale.ROOT, "bench --generate: %s | positions %s | batch %d, width %d, layers %d, context %d,"
            + " no position embedding | limit %s s per mixer%n", String.join(",", mixers), positions, batch, width,
        layers, o.context, WorkerIo.trim(timeLimit));
    List<Row> rows = new ArrayList<>();
    int i = 0;
    for (String mixer : mixers) {
      stdout.printf(Locale.ROOT, "[%d/%d] %s ... ", ++i, mixers.size(), mixer);
      stdout.flush();
      Job job = new Job(mixer, o.context, batch, width, layers, seed, positions, plugins, sets);
      List<Row> got = measure(job);
      rows.addAll(got);
      stdout.println(got.stream().map(r -> r.position() + ": " + (r.status().equals(BenchRow.OK)
          ? Reports.number(r.tokensPerSec(), 0) + " tok/s " + Reports.number(r.rssMb(), 0) + " MB"
          : r.status())).reduce((a, b) -> a + ", " + b).orElse(""));
      writeCsv(csv, rows);
    }
    chart(rows, String.format(Locale.ROOT, " (batch %d, width %d, layers %d)", batch, width, layers), png);
    stdout.println();
    stdout.print(Reports.table(List.of(HEADER.split(",")), rows.stream().map(Row::cells).toList()));
    stdout.println();
    stdout.println("wrote " + csv + " and " + png);
    stdout.println("tokens_per_sec = batch / median step time since the previous position; rss_mb = resident"
        + " memory at the position; rss_growth_mb = rss_mb minus the resident memory after the prompt");
    return 0;
  }

  /** Runs the worker for one mixer and turns its report into one row per position. */
  private List<Row> measure(Job job) {
    Path outFile;
    Path errFile;
    try {
      outFile = Files.createTempFile("leviathan-generate-", ".out");
      errFile = Files.createTempFile("leviathan-generate-", ".err");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a temporary file: " + e.getMessage(), e);
    }
    try {
      String stopped = runWorker(job, outFile, errFile);
      List<String> out = WorkerIo.lines(outFile);
      List<Row> rows = rows(job, out, stopped);
      if (rows.stream().anyMatch(r -> r.status().equals(BenchRow.ERROR) || r.status().equals(BenchRow.OOM))) {
        String why = out.stream().filter(l -> l.startsWith(FAILURE + " ")).findFirst()
            .map(l -> l.substring(FAILURE.length() + 1)).orElse(WorkerIo.lastLine(errFile));
        stdout.print("(" + why + ") ");
      }
      return rows;
    } finally {
      try {
        Files.deleteIfExists(outFile);
        Files.deleteIfExists(errFile);
      } catch (IOException e) {
        // Temporary files only.
      }
    }
  }

  /** Returns null, or the status of a worker stopped from outside ({@code timeout}). */
  private String runWorker(Job job, Path outFile, Path errFile) {
    try (WorkerIo.Worker w = WorkerIo.start(workingDir, List.of("-Xms" + heapMb + "m", "-Xmx" + heapMb + "m",
        "-XX:+UseSerialGC"), GenerateBench.class, job.toArgs(), outFile, errFile)) {
      Process p = w.process;
      try {
        if (!p.waitFor((long) (timeLimit * 1000), TimeUnit.MILLISECONDS)) {
          p.destroyForcibly();
          p.waitFor();
          return BenchRow.TIMEOUT;
        }
        return p.exitValue() == 137 ? BenchRow.OOM : null;
      } catch (InterruptedException e) {
        p.destroyForcibly();
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for the bench worker");
      }
    }
  }

  static List<Row> rows(Job job, List<String> out, String stopped) {
    Map<Integer, Map<String, String>> points = new TreeMap<>();
    String path = "";
    Integer limitAt = null;
    String failure = null;
    for (String line : out) {
      Map<String, String> kv = WorkerIo.keyValues(line);
      if (line.startsWith(POINT + " ")) {
        points.put(Integer.parseInt(kv.get("position")), kv);
      } else if (line.startsWith(BUILT + " ")) {
        path = kv.get("path");
      } else if (line.startsWith(LIMIT + " ")) {
        limitAt = Integer.parseInt(kv.get("limit"));
      } else if (line.startsWith(FAILURE + " ")) {
        failure = line.substring(FAILURE.length() + 1);
      }
    }
    String rest = stopped != null ? stopped
        : failure != null && failure.startsWith("oom") ? BenchRow.OOM : BenchRow.ERROR;
    List<Row> rows = new ArrayList<>();
    for (int p : job.positions()) {
      Map<String, String> kv = points.get(p);
      if (kv != null) {
        rows.add(new Row(job.mixer(), p, job.batch(), job.width(), job.layers(), job.context(), path,
            Double.parseDouble(kv.get("tokens_per_sec")), number(kv.get("rss_mb")), number(kv.get("rss_growth_mb")),
            BenchRow.OK));
      } else {
        String status = limitAt != null && p > limitAt ? "limit" : rest;
        rows.add(new Row(job.mixer(), p, job.batch(), job.width(), job.layers(), job.context(), path, null, null,
            null, status));
      }
    }
    return rows;
  }

  /** The worker: measures one job and reports on stdout, one line per event. */
  public static void main(String[] args) {
    WorkerIo.runWorker(FAILURE, out -> work(Job.parse(args), out));
  }

  static void work(Job job, PrintStream out) {
    try (PluginLoadResult plugins = new PluginLoader(GenerateBench.class.getClassLoader(),
        PluginLoader.timeLimit(System.getenv(PluginLoader.TIME_LIMIT_VARIABLE))).discover(job.plugins())) {
      RunSpec spec = job.spec();
      try (ModelRuntime rt = ModelRuntime.create(spec.resolve(plugins.registry()).model(BenchWorker.VOCAB), spec,
          false)) {
        rt.initialize(spec.schedule().seed());
        Generator g = rt.generator();
        out.println(BUILT + " params=" + rt.parameters().count() + " path="
            + (g.recomputedLayers().isEmpty() ? "step" : "recompute") + " limit=" + g.positionLimit());
        out.flush();
        Random random = new Random(job.seed());
        int[][] prompt = new int[job.batch()][1];
        for (int[] p : prompt) {
          p[0] = random.nextInt(BenchWorker.VOCAB);
        }
        try (Generator.Sequence warm = g.start(prompt)) {
          for (int i = 0; i < WARMUP_STEPS && warm.length() < g.positionLimit(); i++) {
            warm.append(greedy(warm.logits()));
          }
        }
        System.gc();
        try (Generator.Sequence s = g.start(prompt)) {
          long baseKb = ProcMemory.residentKb("self").orElse(-1);
          for (int target : job.positions()) {
            if (target > g.positionLimit()) {
              out.println(LIMIT + " limit=" + g.positionLimit());
              break;
            }
            double[] seconds = new double[target - s.length()];
            for (int i = 0; s.length() < target; i++) {
              long t0 = System.nanoTime();
              s.append(greedy(s.logits()));
              seconds[i] = (System.nanoTime() - t0) / 1e9;
            }
            OptionalLong rss = ProcMemory.residentKb("self");
            double tokensPerSec = job.batch() / BenchWorker.median(seconds);
            out.printf(Locale.ROOT, "%s position=%d tokens_per_sec=%.4f rss_mb=%s rss_growth_mb=%s%n", POINT, target,
                tokensPerSec, rss.isPresent() ? fmt(rss.getAsLong() / 1024.0) : "",
                rss.isPresent() && baseKb >= 0 ? fmt((rss.getAsLong() - baseKb) / 1024.0) : "");
            out.flush();
          }
        }
      }
    }
  }

  private static int[] greedy(float[][] logits) {
    int[] next = new int[logits.length];
    for (int b = 0; b < logits.length; b++) {
      for (int v = 1; v < logits[b].length; v++) {
        if (logits[b][v] > logits[b][next[b]]) {
          next[b] = v;
        }
      }
    }
    return next;
  }

  /** Tokens/s and resident-memory growth against position, log-scaled positions, one line per mixer. */
  private static void chart(List<Row> rows, String subtitle, Path png) {
    XYChart speed = Charts.logLog("generation speed" + subtitle, "tokens/s");
    XYChart memory = Charts.logLog("resident memory growth since the prompt" + subtitle, "MB");
    speed.setXAxisTitle("position (tokens)");
    memory.setXAxisTitle("position (tokens)");
    memory.getStyler().setYAxisLogarithmic(false);
    Map<String, List<Row>> byMixer = new LinkedHashMap<>();
    rows.forEach(r -> byMixer.computeIfAbsent(r.mixer(), k -> new ArrayList<>()).add(r));
    byMixer.forEach((mixer, list) -> {
      List<Row> ok = list.stream().filter(r -> r.status().equals(BenchRow.OK)).toList();
      add(speed, mixer, ok.stream().filter(r -> r.tokensPerSec() > 0).toList(), Row::tokensPerSec);
      add(memory, mixer, ok.stream().filter(r -> r.rssGrowthMb() != null).toList(), Row::rssGrowthMb);
    });
    Charts.save(List.of(speed, memory), png);
  }

  private static void add(XYChart chart, String name, List<Row> rows, java.util.function.Function<Row, Double> y) {
    if (rows.isEmpty()) {
      return;
    }
    XYSeries s = chart.addSeries(name, rows.stream().mapToDouble(Row::position).toArray(),
        rows.stream().mapToDouble(r -> y.apply(r)).toArray());
    s.setMarker(SeriesMarkers.CIRCLE);
    s.setLineStyle(new BasicStroke(2f));
  }

  private static void writeCsv(Path csv, List<Row> rows) {
    StringBuilder sb = new StringBuilder(HEADER).append('\n');
    rows.forEach(r -> sb.append(String.join(",", r.cells().stream().map(Reports::cell).toList())).append('\n'));
    AtomicFiles.write(csv, sb.toString());
  }

  private static Double number(String s) {
    return s == null || s.isEmpty() ? null : Double.parseDouble(s);
  }

  private static String fmt(double v) {
    return String.format(Locale.ROOT, "%.4f", v);
  }
}
