package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.registry.MixerRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.Event;
import org.tensorflow.proto.Summary;

/**
 * The event files TensorFlow's summary writer leaves in {@code tb/}, parsed back from their TFRecord
 * framing (CRC-32C checked here): every scalar equals its metrics.csv cell, the config and the final sample
 * are there as text, and a resume drops what was logged after the checkpoint, so no (tag, step) repeats.
 */
class TensorBoardListenerTest {
  @TempDir Path dir;

  private RunSpec config(int steps) throws Exception {
    Path data = dir.resolve("data.txt");
    if (!Files.exists(data)) {
      Files.writeString(data, Corpus.bundledText().substring(0, 30_000));
    }
    return ConfigLoader.load(null, List.of("data=" + data, "context=16", "width=16", "layers=1", "batch=4",
        "steps=" + steps, "warmup=5", "eval-interval=10", "eval-iters=2", "checkpoint-interval=100", "sample-tokens=20"));
  }

  @Test
  void eventFilesHoldTheMetricsConfigAndSampleOnceEachAcrossAResume() throws Exception {
    MixerRegistry registry = MixerRegistry.discover();
    Path run = dir.resolve("run");
    new Trainer(registry).train(config(20), run, false, TrainingListener.NONE, RunMetadata.launched("test", "cpu"));
    // Events logged after the checkpoint at step 20 by a run that then died: a resume must drop them.
    try (TensorBoardListener stale = new TensorBoardListener()) {
      stale.started(new TrainingListener.Start(1, 1, "cpu", "x", 20, 30, run, true));
      stale.evaluated(new TrainingListener.Evaluation(25, 9, 9, 9, 9, 9, 9), false);
    }
    assertTrue(scalars(run).containsKey("loss/val@25"));
    Trainer.Result r = new Trainer(registry).train(config(30), run, true, TrainingListener.NONE, RunMetadata.launched("test", "cpu"));
    assertEquals(30, r.step());

    List<Path> files = EventFiles.files(run.resolve("tb"));
    assertEquals(3, files.size(), files.toString());
    for (Path f : files) {
      assertEquals("brain.Event:2", EventFiles.events(f).get(0).getFileVersion(), f + " starts with its version");
    }
    Map<String, Float> scalars = scalars(run);
    List<TrainingListener.Evaluation> rows = new RunDirectory(run).readMetrics();
    assertEquals(List.of(0L, 10L, 20L, 30L), rows.stream().map(TrainingListener.Evaluation::step).toList());
    for (TrainingListener.Evaluation e : rows) {
      close(e.trainLoss(), scalars.remove("loss/train@" + e.step()), 1e-6, e);
      close(e.valLoss(), scalars.remove("loss/val@" + e.step()), 1e-6, e);
      close(e.valBpc(), scalars.remove("bpc/val@" + e.step()), 1e-6, e);
      close(e.lr(), scalars.remove("lr@" + e.step()), 1e-7 + 1e-6 * e.lr(), e);
      close(e.tokensPerSec(), scalars.remove("tokens_per_sec@" + e.step()), 0.06 + 1e-7 * e.tokensPerSec(), e);
      Float g = scalars.remove("grad_norm@" + e.step());
      if (e.step() == 0) {
        assertNull(g, "no step has run before the first evaluation");
      } else {
        assertTrue(g != null && g > 0 && Float.isFinite(g), "grad_norm at " + e.step() + ": " + g);
      }
    }
    assertEquals(Map.of(), scalars, "every scalar matches a metrics.csv row exactly once");

    Map<String, String> texts = texts(run);
    assertEquals(List.of("config@0", "config@20", "sample@20", "sample@30"), texts.keySet().stream().sorted().toList());
    for (String at : List.of("config@0", "config@20")) {
      assertEquals(Files.readString(run.resolve("config.yaml")).strip(), unindent(texts.get(at)).strip(), at);
    }
    String samples = Files.readString(run.resolve("samples.txt"));
    String last = samples.substring(samples.lastIndexOf("===\n") + 4).strip();
    assertEquals(r.sample().strip(), last);
    assertEquals(r.sample().strip(), unindent(texts.get("sample@30")).strip());
  }

  @Test
  void aFlippedByteFailsTheCrcCheck() throws Exception {
    Path run = dir.resolve("crc");
    try (TensorBoardListener tb = new TensorBoardListener()) {
      tb.started(new TrainingListener.Start(1, 1, "cpu", "x", 0, 1, run, false));
      tb.evaluated(new TrainingListener.Evaluation(1, 2, 3, 4, 5, 6, 7), false);
    }
    Path f = EventFiles.files(run.resolve("tb")).get(0);
    assertEquals(3.0f, scalarsIn(EventFiles.events(f)).get("loss/val@1"));
    byte[] b = Files.readAllBytes(f);
    b[b.length - 6] ^= 1;
    Files.write(f, b);
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> EventFiles.records(f));
    assertTrue(e.getMessage().contains("CRC mismatch"), e.getMessage());
  }

  @Test
  void aFreshRunInAFolderWithOldEventFilesStartsAFreshLog() {
    Path run = dir.resolve("again");
    for (int attempt = 0; attempt < 2; attempt++) {
      try (TensorBoardListener tb = new TensorBoardListener()) {
        tb.started(new TrainingListener.Start(1, 1, "cpu", "x", 0, 1, run, false));
        tb.evaluated(new TrainingListener.Evaluation(attempt == 0 ? 5 : 3, 2, 3, 4, 5, 6, 7), false);
      }
    }
    assertEquals(1, EventFiles.files(run.resolve("tb")).size());
    assertEquals(java.util.Set.of("loss/train@3", "loss/val@3", "bpc/val@3", "lr@3", "tokens_per_sec@3"),
        scalars(run).keySet());
  }

  private static void close(double expected, Float actual, double tol, TrainingListener.Evaluation e) {
    assertTrue(actual != null, "missing scalar for " + e);
    assertEquals(expected, actual, tol, e.toString());
  }

  private static String unindent(String md) {
    return md.lines().map(l -> l.startsWith("    ") ? l.substring(4) : l).collect(Collectors.joining("\n"));
  }

  /** {@code tag@step -> value}; fails on a repeated (tag, step). */
  private static Map<String, Float> scalars(Path run) {
    return scalarsIn(EventFiles.eventsIn(run.resolve("tb")));
  }

  private static Map<String, Float> scalarsIn(List<Event> events) {
    Map<String, Float> out = new HashMap<>();
    for (Event e : events) {
      for (Summary.Value v : e.getSummary().getValueList()) {
        if (v.getValueCase() == Summary.Value.ValueCase.SIMPLE_VALUE) {
          assertNull(out.put(v.getTag() + "@" + e.getStep(), v.getSimpleValue()), v.getTag() + " twice at " + e.getStep());
        }
      }
    }
    return out;
  }

  private static Map<String, String> texts(Path run) {
    Map<String, String> out = new HashMap<>();
    for (Event e : EventFiles.eventsIn(run.resolve("tb"))) {
      for (Summary.Value v : e.getSummary().getValueList()) {
        if (v.hasTensor()) {
          assertEquals("text", v.getMetadata().getPluginData().getPluginName());
          List<String> s = new ArrayList<>();
          v.getTensor().getStringValList().forEach(x -> s.add(x.toStringUtf8()));
          assertEquals(1, s.size());
          assertFalse(out.containsKey(v.getTag() + "@" + e.getStep()), v.getTag() + " twice at " + e.getStep());
          out.put(v.getTag() + "@" + e.getStep(), s.get(0));
        }
      }
    }
    return out;
  }
}
