package dev.leviathan.app.bench;

import dev.leviathan.trainer.AtomicFiles;

import dev.leviathan.trainer.RunDirectory;
import dev.leviathan.trainer.TrainingListener;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * The three outputs of {@code compare} in its folder: {@code compare.csv} (one row per run),
 * {@code compare.md} (per mixer: mean ± sample standard deviation over the finished seeds) and
 * {@code compare.png} (validation loss against step, one line per mixer: the mean over its finished
 * seeds).
 */
final class CompareReport {
  private final Path dir;
  private final List<String> mixers;
  private final String settings;

  /**
   * @param mixers the mixers in command-line order (the order of the table)
   * @param settings one line describing the shared config, data, steps and seeds
   */
  CompareReport(Path dir, List<String> mixers, String settings) {
    this.dir = dir;
    this.mixers = List.copyOf(mixers);
    this.settings = settings;
  }

  static String runName(String mixer, long seed) {
    return mixer + "-seed" + seed;
  }

  Path runDir(String mixer, long seed) {
    return dir.resolve(runName(mixer, seed));
  }

  Path csv() {
    return dir.resolve("compare.csv");
  }

  Path markdown() {
    return dir.resolve("compare.md");
  }

  Path png() {
    return dir.resolve("compare.png");
  }

  /** Rewrites all three files from the rows of this invocation so far. */
  void write(List<CompareRow> rows) {
    StringBuilder csv = new StringBuilder(CompareRow.HEADER).append('\n');
    rows.forEach(r -> csv.append(r.csv()).append('\n'));
    AtomicFiles.write(csv(), csv.toString());
    AtomicFiles.write(markdown(), markdown(rows));
    Map<String, double[][]> curves = new LinkedHashMap<>();
    for (String m : mixers) {
      List<CompareRow> done = rows.stream().filter(r -> r.mixer().equals(m) && r.ok()).toList();
      if (!done.isEmpty()) {
        curves.put(m + " (" + done.size() + (done.size() == 1 ? " seed)" : " seeds)"), meanCurve(m, done));
      }
    }
    Charts.losses(curves, "validation loss, mean over seeds", png());
  }

  /** Mean validation loss per evaluated step over the runs (steps every run evaluated). */
  private double[][] meanCurve(String mixer, List<CompareRow> runs) {
    Map<Long, double[]> sums = new TreeMap<>();
    for (CompareRow r : runs) {
      for (TrainingListener.Evaluation e : new RunDirectory(runDir(mixer, r.seed())).readMetrics()) {
        double[] s = sums.computeIfAbsent(e.step(), k -> new double[2]);
        s[0] += e.valLoss();
        s[1] += 1;
      }
    }
    List<double[]> points = new ArrayList<>();
    sums.forEach((step, s) -> {
      if (s[1] == runs.size()) {
        points.add(new double[] {step, s[0] / s[1]});
      }
    });
    return new double[][] {points.stream().mapToDouble(p -> p[0]).toArray(),
        points.stream().mapToDouble(p -> p[1]).toArray()};
  }

  /** The per-mixer table as markdown. */
  String markdown(List<CompareRow> rows) {
    StringBuilder sb = new StringBuilder("# Mixer comparison\n\n").append(settings).append("\n\n");
    sb.append("Mean ± sample standard deviation over the seeds that finished (no spread with one seed). Validation"
        + " loss in nats per character and bits per character at the last step; tokens/s of the training steps;"
        + " wall time of training with its evaluations.\n\n");
    sb.append("| mixer | seeds | params | val loss | val bpc | tokens/s | wall time (s) |\n");
    sb.append("|---|---:|---:|---:|---:|---:|---:|\n");
    for (String m : mixers) {
      List<CompareRow> all = rows.stream().filter(r -> r.mixer().equals(m)).toList();
      if (all.isEmpty()) {
        continue;
      }
      List<CompareRow> ok = all.stream().filter(CompareRow::ok).toList();
      String params = ok.isEmpty() || ok.get(0).params() == null ? "–"
          : String.format(Locale.ROOT, "%,d", ok.get(0).params());
      sb.append("| ").append(m).append(" | ").append(ok.size()).append('/').append(all.size()).append(" | ")
          .append(params).append(" | ")
          .append(stat(ok, CompareRow::valLoss, "%.4f")).append(" | ")
          .append(stat(ok, CompareRow::valBpc, "%.4f")).append(" | ")
          .append(stat(ok, CompareRow::tokensPerSec, "%,.0f")).append(" | ")
          .append(stat(ok, CompareRow::wallSec, "%.1f")).append(" |\n");
    }
    List<CompareRow> notOk = rows.stream().filter(r -> !r.ok()).toList();
    if (!notOk.isEmpty()) {
      sb.append("\nRuns that did not finish:\n\n");
      for (CompareRow r : notOk) {
        sb.append("- ").append(runName(r.mixer(), r.seed())).append(": ").append(r.status());
        if (r.error() != null && !r.error().isEmpty()) {
          sb.append(" — ").append(r.error().replace("|", "\\|"));
        } else if (r.steps() != null) {
          sb.append(" at step ").append(r.steps());
        }
        sb.append('\n');
      }
    }
    return sb.toString();
  }

  private static String stat(List<CompareRow> rows, Function<CompareRow, Double> f, String fmt) {
    double[] v = rows.stream().map(f).filter(x -> x != null && Double.isFinite(x)).mapToDouble(Double::doubleValue)
        .toArray();
    if (v.length == 0) {
      return "–";
    }
    double mean = 0;
    for (double x : v) {
      mean += x;
    }
    mean /= v.length;
    if (v.length == 1) {
      return String.format(Locale.ROOT, fmt, mean);
    }
    double ss = 0;
    for (double x : v) {
      ss += (x - mean) * (x - mean);
    }
    double sd = Math.sqrt(ss / (v.length - 1));
    return String.format(Locale.ROOT, fmt + " ± " + fmt, mean, sd);
  }
}
