package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.registry.MixerRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Only the chief task writes the run directory: a non-chief task trains the same steps and reports the
 * same evaluations (same seed, same data order) but leaves the folder untouched.
 */
class TaskRoleTest {
  @TempDir Path dir;

  private RunSpec spec() throws Exception {
    Path data = dir.resolve("data.txt");
    if (!Files.exists(data)) {
      Files.writeString(data, Corpus.bundledText().substring(0, 20_000));
    }
    return ConfigLoader.load(null, List.of("data=" + data, "context=8", "width=8", "layers=1", "batch=2", "steps=4",
        "warmup=1", "eval-interval=2", "eval-iters=2", "checkpoint-interval=2", "sample-tokens=5",
        "intra-op-threads=1", "inter-op-threads=1"));
  }

  /** Records the evaluations a run reports. */
  private static final class Evaluations implements TrainingListener {
    final List<Evaluation> rows = new ArrayList<>();

    @Override
    public void evaluated(Evaluation e, boolean best) {
      rows.add(e);
    }
  }

  @Test
  void aWorkerTaskTrainsAlikeButWritesNothing() throws Exception {
    MixerRegistry registry = MixerRegistry.discover();
    RunMetadata launch = RunMetadata.launched("test", "cpu");
    Evaluations chief = new Evaluations();
    Trainer.Result a = new Trainer(registry, TaskRole.SINGLE).train(spec(), dir.resolve("chief"), false, chief, launch);
    Evaluations worker = new Evaluations();
    Path workerDir = dir.resolve("worker");
    Trainer.Result b = new Trainer(registry, new TaskRole(1, 2)).train(spec(), workerDir, false, worker, launch);

    assertEquals(4, b.step());
    assertEquals(a.sample(), b.sample());
    assertEquals(chief.rows.size(), worker.rows.size());
    for (int i = 0; i < chief.rows.size(); i++) {
      assertArrayEquals(new double[] {chief.rows.get(i).trainLoss(), chief.rows.get(i).valLoss()},
          new double[] {worker.rows.get(i).trainLoss(), worker.rows.get(i).valLoss()}, "evaluation " + i);
    }
    assertTrue(new RunDirectory(dir.resolve("chief")).hasCheckpoints());
    assertFalse(Files.exists(workerDir), "a worker task created " + workerDir);
  }

  @Test
  void rolesAreChecked() {
    assertTrue(TaskRole.SINGLE.chief());
    assertFalse(new TaskRole(2, 3).chief());
    assertEquals("task 3 of 3 does not exist",
        assertThrows(IllegalArgumentException.class, () -> new TaskRole(3, 3)).getMessage());
  }
}
