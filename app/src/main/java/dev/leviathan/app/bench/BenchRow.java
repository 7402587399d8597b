package dev.leviathan.app.bench;

import java.util.List;

/**
 * One row of the bench CSV: a configuration and what was measured. The numbers are null when the
 * configuration did not finish ({@code params} is kept when the model was built before it stopped).
 *
 * @param firstStepMs the first training step, which includes TensorFlow's graph optimisation; not part of
 *     {@code stepMs} and {@code tokensPerSec}
 * @param rssMb peak resident memory of the whole worker process (JVM, TensorFlow, graph, steps)
 * @param status {@code ok}; {@code oom} (out of memory: Java heap, TensorFlow's allocator, over
 *     {@code --max-memory}, or killed by the operating system); {@code timeout} (over
 *     {@code --time-limit}); {@code error} (anything else; the message is printed)
 * @param runs the finished runs the numbers come from (each a median over them with {@code --repeat})
 * @param stepMsMin the fastest run's step time ({@code stepMs} with one run)
 * @param stepMsMax the slowest run's step time
 * @param cpuMs CPU time of the worker process per timed step (their mean), all its threads (TensorFlow's too):
 *     less disturbed than {@code stepMs} by other load on the machine, which takes cores away but spends
 *     none of this process's CPU time
 */
record BenchRow(String mixer, int context, int batch, int width, int layers, Long params, Double stepMs,
    Double tokensPerSec, Double forwardMs, Double peakMb, Double firstStepMs, Double rssMb, String status, int runs,
    Double stepMsMin, Double stepMsMax, Double cpuMs) {

  static final String HEADER = "mixer,context,batch,width,layers,params,step_ms,tokens_per_sec,forward_ms,peak_mb,"
      + "first_step_ms,rss_mb,status,runs,step_ms_min,step_ms_max,cpu_ms";
  static final String OK = "ok";
  static final String OOM = "oom";
  static final String TIMEOUT = "timeout";
  static final String ERROR = "error";

  boolean ok() {
    return status.equals(OK);
  }

  List<String> cells() {
    return List.of(mixer, Integer.toString(context), Integer.toString(batch), Integer.toString(width),
        Integer.toString(layers), params == null ? "" : Long.toString(params), Reports.number(stepMs, 3),
        Reports.number(tokensPerSec, 1), Reports.number(forwardMs, 3), Reports.number(peakMb, 1),
        Reports.number(firstStepMs, 1), Reports.number(rssMb, 1), status, Integer.toString(runs),
        Reports.number(stepMsMin, 3), Reports.number(stepMsMax, 3), Reports.number(cpuMs, 3));
  }

  /**
   * The rows of one configuration's runs as one: every number the median over the finished runs, with the
   * range of their step times; the first run's row (and status) when none finished.
   */
  static BenchRow combine(List<BenchRow> runs) {
    List<BenchRow> ok = runs.stream().filter(BenchRow::ok).toList();
    BenchRow first = runs.get(0);
    if (ok.isEmpty()) {
      return first;
    }
    BenchRow a = ok.get(0);
    double step = median(ok.stream().map(BenchRow::stepMs).toList());
    return new BenchRow(a.mixer, a.context, a.batch, a.width, a.layers, a.params, step,
        a.batch * (double) a.context / (step / 1000), median(ok.stream().map(BenchRow::forwardMs).toList()),
        median(ok.stream().map(BenchRow::peakMb).toList()), median(ok.stream().map(BenchRow::firstStepMs).toList()),
        median(ok.stream().map(BenchRow::rssMb).toList()), OK, ok.size(),
        ok.stream().mapToDouble(BenchRow::stepMs).min().orElseThrow(),
        ok.stream().mapToDouble(BenchRow::stepMs).max().orElseThrow(), median(ok.stream().map(BenchRow::cpuMs).toList()));
  }

  /** The {@link BenchWorker#median} of the non-null values, or null without any. */
  private static Double median(List<Double> values) {
    double[] v = values.stream().filter(java.util.Objects::nonNull).mapToDouble(Double::doubleValue).toArray();
    return v.length == 0 ? null : BenchWorker.median(v);
  }

  String csv() {
    return String.join(",", cells().stream().map(Reports::cell).toList());
  }
}
