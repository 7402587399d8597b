package dev.leviathan.trainer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The layout of a run directory, and the one place that names its files: {@code config.yaml},
 * {@code run.json}, {@code metrics.csv}, {@code loss.png}, {@code samples.txt}, {@code checkpoints/} and
 * {@code tb/} (TensorBoard event files);
 * new runs go to {@code runs/<yyyyMMdd-HHmmss>-<label>} (see {@link #createIn}). Whole files are written to
 * a temporary file and moved into place, so a reader never sees half a file.
 */
public final class RunDirectory {
  public static final String METRICS_HEADER = "step,train_loss,val_loss,val_bpc,lr,tokens_per_sec,elapsed_sec";
  /** The folder, relative to the working directory, that holds the runs, comparisons and benchmarks. */
  public static final String RUNS = "runs";
  static final String CHECKPOINTS = "checkpoints";
  private static final String CONFIG = "config.yaml";
  private static final String RUN_RECORD = "run.json";
  private static final String METRICS = "metrics.csv";
  private static final String LOSS_PLOT = "loss.png";
  private static final String SAMPLES = "samples.txt";
  private static final String TENSORBOARD = "tb";
  private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");

  private final Path dir;

  public RunDirectory(Path dir) {
    this.dir = dir;
  }

  /** {@code runs} under {@code workingDir}. */
  public static Path runsFolder(Path workingDir) {
    return workingDir.resolve(RUNS);
  }

  /**
   * A folder that does not exist yet: {@code runs/<prefix><yyyyMMdd-HHmmss><suffix>} under {@code workingDir},
   * with {@code -2}, {@code -3}, ... appended when that name is taken.
   */
  public static Path createIn(Path workingDir, String prefix, String suffix) {
    String name = prefix + LocalDateTime.now().format(STAMP) + suffix;
    Path runs = runsFolder(workingDir);
    Path candidate = runs.resolve(name);
    for (int i = 2; Files.exists(candidate); i++) {
      candidate = runs.resolve(name + "-" + i);
    }
    return candidate;
  }

  /** A new training run's folder: {@code runs/<yyyyMMdd-HHmmss>-<label>}. */
  public static RunDirectory newRun(Path workingDir, String label) {
    return new RunDirectory(createIn(workingDir, "", "-" + label));
  }

  /** The run under {@code runs/} with checkpoints whose name sorts last (the latest timestamp), if any. */
  public static Optional<RunDirectory> latest(Path workingDir) {
    Path runs = runsFolder(workingDir);
    try (Stream<Path> s = Files.isDirectory(runs) ? Files.list(runs) : Stream.empty()) {
      return s.map(RunDirectory::new).filter(RunDirectory::hasCheckpoints)
          .max(Comparator.comparing(r -> r.path().getFileName().toString()));
    } catch (IOException e) {
      throw new ConfigException("cannot list " + runs + ": " + e.getMessage());
    }
  }

  public Path path() {
    return dir;
  }

  /** Whether a run has been started here (it has a checkpoints folder). */
  public boolean hasCheckpoints() {
    return Files.isDirectory(dir.resolve(CHECKPOINTS));
  }

  public Path config() {
    return dir.resolve(CONFIG);
  }

  public Path metrics() {
    return dir.resolve(METRICS);
  }

  /** The folder of the TensorBoard event files. */
  public Path tensorBoard() {
    return dir.resolve(TENSORBOARD);
  }

  public Checkpoints checkpoints() {
    return new Checkpoints(dir);
  }

  /** Writes the run's config ({@code config.yaml}). */
  public void writeConfig(RunSpec spec) {
    AtomicFiles.write(config(), ConfigLoader.toYaml(spec));
  }

  /** The run record ({@code run.json}), or {@code null} when there is none or it is unreadable. */
  public RunMetadata readMetadata() {
    return Json.read(dir.resolve(RUN_RECORD), RunMetadata.class);
  }

  /** Writes the run record ({@code run.json}). */
  public void writeMetadata(RunMetadata metadata) {
    AtomicFiles.write(dir.resolve(RUN_RECORD), Json.pretty(metadata));
  }

  /** Appends a sample to samples.txt. */
  public void appendSample(String header, String text) {
    try {
      Files.writeString(dir.resolve(SAMPLES), "=== " + header + " ===\n" + text + "\n\n", StandardCharsets.UTF_8,
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
    AtomicFiles.write(metrics(), sb.toString());
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
    AtomicFiles.write(dir.resolve(LOSS_PLOT), out -> BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG));
  }
}
