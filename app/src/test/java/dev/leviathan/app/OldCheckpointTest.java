package dev.leviathan.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run directory written by an earlier version of Leviathan (test resource {@code runs-v1/attention-tiny}:
 * 6 steps of a 1-layer, width-8, context-8 attention model on the bundled corpus, seed 7, single-threaded)
 * still evaluates, samples and resumes, with the figures that version printed: eval reproduces the
 * validation loss in its metrics.csv, sampling with seed 3 gives its text, and resuming to step 8 gives
 * its step-8 evaluation.
 */
class OldCheckpointTest {
  @TempDir Path work;

  private Path copyFixture() {
    Path source = Path.of("src", "test", "resources", "runs-v1", "attention-tiny");
    Path target = work.resolve("old-run");
    try (Stream<Path> files = Files.walk(source)) {
      for (Path p : files.toList()) {
        Path t = target.resolve(source.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(t);
        } else {
          Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return target;
  }

  @Test
  void evalsSamplesAndResumesARunOfThePreviousVersion() throws Exception {
    copyFixture();
    Cli eval = Cli.run(work, "eval", "--run", "old-run");
    assertEquals(0, eval.code(), eval.toString());
    assertTrue(eval.out().startsWith("val_loss=4.1652 val_bpc=6.0091 (step 6, checkpoint last,"), eval.out());

    Cli sample = Cli.run(work, "sample", "--run", "old-run", "--checkpoint", "best", "--tokens", "30", "--seed", "3");
    assertEquals(0, sample.code(), sample.toString());
    assertEquals("-gb&Bc.sTsghSJhmG-;Zove?bsB.cr", sample.out().strip());

    Cli resumed = Cli.run(work, "train", "--resume", "--out", "old-run", "--steps", "8", "--no-progress");
    assertEquals(0, resumed.code(), resumed.toString());
    assertTrue(resumed.out().contains("steps 6 -> 8"), resumed.out());
    List<String> rows = Files.readAllLines(work.resolve("old-run/metrics.csv"));
    assertEquals(5, rows.size(), rows.toString());
    assertTrue(rows.get(3).startsWith("6,4.153488,4.165159,"), rows.toString());
    String[] last = rows.get(4).split(",");
    assertEquals("8", last[0]);
    // The previous version resumed this run to: 8,4.151337,4.162648,6.005431,0.00016028857
    assertEquals(4.151337, Double.parseDouble(last[1]), 1e-4);
    assertEquals(4.162648, Double.parseDouble(last[2]), 1e-4);
    assertEquals(0.00016028857, Double.parseDouble(last[4]), 1e-12);
    String runJson = Files.readString(work.resolve("old-run/run.json"));
    assertTrue(runJson.contains("\"resumes\"") && runJson.contains("\"started\""), runJson);
    // The earlier version's run record is kept as it was, with the resume added.
    assertTrue(runJson.contains("\"memory-bytes\" : 268435456") && runJson.contains("\"parameters\" : 1472")
        && runJson.contains("\"started\" : \"2026-12-01T15:30:06.347090799Z\"")
        && runJson.contains("\"command\" : \"leviathan train --out old-run --steps 8 --resume\""), runJson);

    Cli mismatch = Cli.run(work, "train", "--resume", "--out", "old-run", "--steps", "9", "--set", "width=16");
    assertEquals(1, mismatch.code(), mismatch.toString());
    assertTrue(mismatch.err().startsWith("error: cannot resume: the checkpoint was trained with a different model"
        + " or data (width: checkpoint 8, requested 16)"), mismatch.err());
  }
}
