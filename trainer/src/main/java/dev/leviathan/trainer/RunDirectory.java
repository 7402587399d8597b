package dev.leviathan.trainer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * A run directory: {@code config.yaml}, {@code run.json}, {@code metrics.csv}, {@code loss.png},
 * {@code samples.txt} and {@code checkpoints/}. Whole files are written to a temporary file and moved
 * into place, so a reader never sees half a file.
 */
public final class RunDirectory {
  public static final String METRICS_HEADER = "step,train_loss,val_loss,val_bpc,lr,tokens_per_sec,elapsed_sec";

  private final Path dir;

  public RunDirectory(Path dir) {
    this.dir = dir;
  }

  public Path path() {
    return dir;
  }

  public Path config() {
    return dir.resolve("config.yaml");
  }

  public Path metrics() {
    return dir.resolve("metrics.csv");
  }

  public Checkpoints checkpoints() {
    return new Checkpoints(dir);
  }

  /** Writes {@code content} to {@code name} atomically. */
  public void write(String name, String content) {
    AtomicFiles.write(dir.resolve(name), content);
  }

  /** Appends a line to samples.txt. */
  public void appendSample(String header, String text) {
    try {
      Files.writeString(dir.resolve("samples.txt"), "=== " + header + " ===\n" + text + "\n\n", StandardCharsets.UTF_8,
          StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Rows of metrics.csv (without the header); empty if none yet. */
  public List<TrainingListener.Evaluation> readMetrics() {
    List<TrainingListener.Evaluation> rows = new ArrayList<>();
    if (!Files.exists(metrics())) {
      return rows;
    }
    try {
      List<String> lines = Files.readAllLines(metrics(), StandardCharsets.UTF_8);
      for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
        if (line.isBlank()) {
          continue;
        }
        String[] f = line.split(",");
        rows.add(new TrainingListener.Evaluation(Long.parseLong(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2]),
            Double.parseDouble(f[3]), Double.parseDouble(f[4]), Double.parseDouble(f[5]), Double.parseDouble(f[6])));
      }
    } catch (IOException | RuntimeException e) {
      throw new CheckpointException("cannot read " + metrics() + ": " + e.getMessage());
    }
    return rows;
  }

  /** Rewrites metrics.csv with {@code rows}. */
  public void writeMetrics(List<TrainingListener.Evaluation> rows) {
    StringBuilder sb = new StringBuilder(METRICS_HEADER).append('\n');
    for (TrainingListener.Evaluation e : rows) {
      sb.append(String.format(java.util.Locale.ROOT, "%d,%.6f,%.6f,%.6f,%.8g,%.1f,%.2f%n", e.step(), e.trainLoss(),
          e.valLoss(), e.valBpc(), e.lr(), e.tokensPerSec(), e.elapsedSec()));
    }
    write("metrics.csv", sb.toString());
  }

  /** Draws train and validation loss against step into loss.png (headless). */
  public void drawLoss(List<TrainingListener.Evaluation> rows, String title) {
    if (rows.isEmpty()) {
      return;
    }
    System.setProperty("java.awt.headless", "true");
    XYChart chart = new XYChartBuilder().width(800).height(500).title(title)
        .xAxisTitle("step").yAxisTitle("loss (nats)").build();
    double[] steps = rows.stream().mapToDouble(TrainingListener.Evaluation::step).toArray();
    chart.addSeries("train", steps, rows.stream().mapToDouble(TrainingListener.Evaluation::trainLoss).toArray())
        .setMarker(SeriesMarkers.NONE);
    chart.addSeries("validation", steps, rows.stream().mapToDouble(TrainingListener.Evaluation::valLoss).toArray())
        .setMarker(SeriesMarkers.NONE);
    AtomicFiles.write(dir.resolve("loss.png"), out -> BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG));
  }
}
