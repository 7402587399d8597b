package dev.leviathan.app.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A training run small enough for a test (the tiny model of the CLI tests), with the plugin mixer. */
final class TinyRun {
  static final int STEPS = 60;

  private TinyRun() {}

  /** {@code train} on the bundled corpus into {@code /runs/<name>} with the {@code causal-conv} plugin mixer. */
  static String[] train(String name, String... more) {
    List<String> args = new ArrayList<>(List.of("train", "--mixer", "causal-conv", "--out", "/runs/" + name,
        "--steps", String.valueOf(STEPS), "--no-progress",
        "--set", "context=32", "--set", "width=32", "--set", "layers=2", "--set", "batch=8",
        "--set", "eval-interval=20", "--set", "eval-iters=5", "--set", "checkpoint-interval=20",
        "--set", "warmup=10", "--set", "lr=3e-3", "--set", "sample-tokens=40"));
    args.addAll(List.of(more));
    return args.toArray(String[]::new);
  }

  /** {@code sample} from the run's last checkpoint (the plugin comes from {@code /plugins} again). */
  static String[] sample(String name) {
    return new String[] {"sample", "--run", "/runs/" + name, "--prompt", "ROMEO:", "--tokens", "60", "--seed", "3"};
  }

  /**
   * The run directory on the host holds the metrics with a validation loss that fell, and both checkpoints.
   */
  static void assertTrainedAndCheckpointed(Path run, Object context) throws IOException {
    for (String f : List.of("config.yaml", "run.json", "metrics.csv", "samples.txt", "checkpoints/last/state.json",
        "checkpoints/last/variables.index", "checkpoints/last/checksums.sha256", "checkpoints/best/state.json")) {
      assertTrue(Files.isRegularFile(run.resolve(f)), f + " missing on the host\n" + context);
    }
    List<String> rows = Files.readAllLines(run.resolve("metrics.csv"));
    assertEquals("step,train_loss,val_loss,val_bpc,lr,tokens_per_sec,elapsed_sec", rows.get(0));
    assertEquals(1 + (1 + STEPS / 20), rows.size(), "a header, then evaluations at step 0 and every 20 steps\n" + rows);
    String[] first = rows.get(1).split(",");
    String[] last = rows.get(rows.size() - 1).split(",");
    assertEquals("0", first[0]);
    assertEquals(String.valueOf(STEPS), last[0]);
    double before = Double.parseDouble(first[2]);
    double after = Double.parseDouble(last[2]);
    assertTrue(after < before - 0.5, "validation loss fell from " + before + " to " + after + "\n" + context);
  }
}
