package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.registry.MixerRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * N steps in one go against N/2 steps, a stop (as Ctrl-C does), a resume and N/2 more, with single-threaded
 * kernels: the step counts, learning rates, losses and final parameters match exactly.
 */
class ResumeTest {
  private static final RunMetadata LAUNCH = RunMetadata.launched("test", "cpu");

  @TempDir Path dir;

  RunSpec config() throws Exception {
    Path data = dir.resolve("data.txt");
    if (!Files.exists(data)) {
      Files.writeString(data, Corpus.bundledText().substring(0, 30_000));
    }
    return ConfigLoader.load(null, List.of("data=" + data, "context=16", "width=16", "layers=2", "batch=4",
        "steps=40", "warmup=5", "eval-interval=10", "eval-iters=3", "checkpoint-interval=100", "sample-tokens=0",
        "intra-op-threads=1", "inter-op-threads=1", "dropout=0.1"));
  }

  @Test
  void stoppedAndResumedRunMatchesTheUninterruptedOne() throws Exception {
    MixerRegistry registry = MixerRegistry.discover();
    RunSpec cfg = config();
    Trainer.Result whole = new Trainer(registry).train(cfg, dir.resolve("whole"), false, TrainingListener.NONE, LAUNCH);
    assertEquals(40, whole.step());
    assertFalse(whole.interrupted());

    Trainer first = new Trainer(registry);
    TrainingListener stopAt20 = new TrainingListener() {
      @Override
      public void stepped(long step, double loss, double lr, double tokensPerSec) {
        if (step == 20) {
          first.requestStop();
        }
      }
    };
    Trainer.Result half = first.train(config(), dir.resolve("split"), false, stopAt20, LAUNCH);
    assertTrue(half.interrupted());
    assertEquals(20, half.step());
    CheckpointState state = new Checkpoints(dir.resolve("split")).read("last");
    assertEquals(20, state.step());
    assertEquals(20, state.trainBatches());

    Trainer.Result rest = new Trainer(registry).train(config(), dir.resolve("split"), true, TrainingListener.NONE, LAUNCH);
    assertEquals(40, rest.step());
    List<String> a = Files.readAllLines(dir.resolve("whole/metrics.csv"));
    List<String> b = Files.readAllLines(dir.resolve("split/metrics.csv"));
    assertEquals(a.size(), b.size(), b.toString());
    for (int i = 0; i < a.size(); i++) {
      String[] x = a.get(i).split(","), y = b.get(i).split(",");
      for (int col : new int[] {0, 1, 2, 3, 4}) { // step, train_loss, val_loss, val_bpc, lr
        assertEquals(x[col], y[col], "row " + i + " column " + col + ": " + a.get(i) + " vs " + b.get(i));
      }
    }
    try (Trainer.LoadedRun p = new Trainer(registry).open(dir.resolve("whole"), "last");
        Trainer.LoadedRun q = new Trainer(registry).open(dir.resolve("split"), "last")) {
      Map<String, float[]> pa = p.runtime().parameters().read(p.runtime().session());
      Map<String, float[]> pb = q.runtime().parameters().read(q.runtime().session());
      for (String k : pa.keySet()) {
        assertArrayEquals(pa.get(k), pb.get(k), k);
      }
    }
  }
}
