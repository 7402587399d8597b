package dev.leviathan.app.bench;

import dev.leviathan.trainer.AtomicFiles;

import java.awt.BasicStroke;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The PNG plots of {@code bench} and {@code compare} (XChart, headless). */
final class Charts {
  private Charts() {}

  /**
   * Two log-log panels side by side, training-step time and peak memory against context, one line
   * per mixer (configurations that did not finish are left out).
   */
  static void bench(List<BenchRow> rows, String subtitle, Path png) {
    XYChart time = logLog("training step time" + subtitle, "ms per step");
    XYChart memory = logLog("peak memory of the step" + subtitle, "MB");
    addPerMixer(time, rows, BenchRow::stepMs);
    addPerMixer(memory, rows, BenchRow::peakMb);
    save(List.of(time, memory), png);
  }

  /** Validation loss against step, one line per mixer. */
  static void losses(Map<String, double[][]> curves, String title, Path png) {
    XYChart chart = new XYChartBuilder().width(900).height(560).title(title).xAxisTitle("step")
        .yAxisTitle("validation loss (nats)").build();
    style(chart, Styler.LegendPosition.InsideNE);
    curves.forEach((name, xy) -> {
      if (xy[0].length > 0) {
        XYSeries s = chart.addSeries(name, xy[0], xy[1]);
        s.setMarker(SeriesMarkers.NONE);
        s.setLineStyle(new BasicStroke(2f));
      }
    });
    save(List.of(chart), png);
  }

  static XYChart logLog(String title, String yTitle) {
    XYChart chart = new XYChartBuilder().width(700).height(520).title(title).xAxisTitle("context (tokens)")
        .yAxisTitle(yTitle).build();
    style(chart, Styler.LegendPosition.InsideNW);
    chart.getStyler().setXAxisLogarithmic(true);
    chart.getStyler().setYAxisLogarithmic(true);
    return chart;
  }

  private static void style(XYChart chart, Styler.LegendPosition legend) {
    chart.getStyler().setLegendPosition(legend);
    chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
  }

  private static void addPerMixer(XYChart chart, List<BenchRow> rows, Function<BenchRow, Double> value) {
    Map<String, List<double[]>> byMixer = new LinkedHashMap<>();
    for (BenchRow r : rows) {
      Double v = value.apply(r);
      byMixer.computeIfAbsent(r.mixer(), k -> new ArrayList<>());
      if (r.ok() && v != null && v > 0) {
        byMixer.get(r.mixer()).add(new double[] {r.context(), v});
      }
    }
    byMixer.forEach((mixer, points) -> {
      if (!points.isEmpty()) {
        points.sort((a, b) -> Double.compare(a[0], b[0]));
        XYSeries s = chart.addSeries(mixer, points.stream().mapToDouble(p -> p[0]).toArray(),
            points.stream().mapToDouble(p -> p[1]).toArray());
        s.setMarker(SeriesMarkers.CIRCLE);
        s.setLineStyle(new BasicStroke(2f));
      }
    });
  }

  static void save(List<XYChart> charts, Path png) {
    System.setProperty("java.awt.headless", "true");
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try {
      if (charts.size() == 1) {
        BitmapEncoder.saveBitmap(charts.get(0), bytes, BitmapEncoder.BitmapFormat.PNG);
      } else {
        BitmapEncoder.saveBitmap(charts, 1, charts.size(), bytes, BitmapEncoder.BitmapFormat.PNG);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot draw " + png + ": " + e.getMessage(), e);
    }
    AtomicFiles.write(png, bytes.toByteArray());
  }
}
