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
 */
record BenchRow(String mixer, int context, int batch, int width, int layers, Long params, Double stepMs,
    Double tokensPerSec, Double forwardMs, Double peakMb, Double firstStepMs, Double rssMb, String status) {

  static final String HEADER =
      "mixer,context,batch,width,layers,params,step_ms,tokens_per_sec,forward_ms,peak_mb,first_step_ms,rss_mb,status";
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
        Reports.number(firstStepMs, 1), Reports.number(rssMb, 1), status);
  }

  String csv() {
    return String.join(",", cells().stream().map(Reports::cell).toList());
  }
}
