package dev.leviathan.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.trainer.Corpus;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every bad input: one line on stderr, a non-zero exit, no stack trace, nothing half-written. */
class ErrorCliTest {
  @TempDir static Path work;

  @BeforeAll
  static void data() throws Exception {
    Files.writeString(work.resolve("slice.txt"), Corpus.bundledText().substring(0, 20_000));
    Files.writeString(work.resolve("empty.txt"), "");
    Files.writeString(work.resolve("short.txt"), "to be or not to be");
  }

  static void assertOneLineError(Cli c, int code, String expectedStart) {
    assertEquals(code, c.code(), c.toString());
    assertTrue(c.err().startsWith("error: " + expectedStart), c.toString());
    assertEquals(1, c.err().strip().lines().count(), "one line: " + c.err());
    assertFalse(c.err().contains("\tat "), "no stack trace: " + c.err());
  }

  static void assertNoRunWritten() {
    assertFalse(Files.exists(work.resolve("runs")), "nothing written under runs/");
  }

  @Test
  void missingDataFile() {
    assertOneLineError(Cli.run(work, "train", "--data", "missing.txt"), 1, "data file ");
    assertTrue(Cli.run(work, "train", "--data", "missing.txt").err().contains("does not exist; check the --data path"));
    assertNoRunWritten();
  }

  @Test
  void emptyAndShortCorpora() {
    assertOneLineError(Cli.run(work, "train", "--data", "empty.txt"), 1, "the corpus ");
    Cli s = Cli.run(work, "train", "--data", "short.txt");
    assertOneLineError(s, 1, "the corpus ");
    assertTrue(s.err().contains("too short for context 64"), s.err());
    assertNoRunWritten();
  }

  @Test
  void badConfigValues() throws Exception {
    assertOneLineError(Cli.run(work, "train", "--set", "steps=0"), 1, "steps must be >= 1, got 0");
    assertOneLineError(Cli.run(work, "train", "--set", "widht=3"), 1, "unknown config key 'widht'");
    assertOneLineError(Cli.run(work, "train", "--set", "lr=fast"), 1, "config key 'lr' must be a number, got 'fast'");
    Files.writeString(work.resolve("bad.yaml"), "layers: -2\n");
    assertOneLineError(Cli.run(work, "train", "--config", "bad.yaml"), 1, "layers must be >= 1, got -2");
    assertOneLineError(Cli.run(work, "train", "--set", "token-mixer-options.heads=3"), 1,
        "mixer 'attention': option 'heads' = 3 is invalid: it must divide the width 128");
    assertNoRunWritten();
  }

  @Test
  void unknownMixerListsTheAvailableOnes() {
    Cli c = Cli.run(work, "train", "--mixer", "transformer-xl");
    assertOneLineError(c, 1, "A token mixer named 'transformer-xl' does not exist.");
    assertTrue(c.err().contains("The current token mixers are: ") && c.err().contains("attention"), c.err());
    assertNoRunWritten();
  }

  @Test
  void unknownCommandLineOption() {
    Cli c = Cli.run(work, "train", "--stepz", "3");
    assertOneLineError(c, 2, "Unknown options: '--stepz', '3' (see: leviathan train --help)");
  }

  @Test
  void aDivergingRunStopsAndKeepsTheLastGoodCheckpoint() throws Exception {
    Cli c = Cli.run(work, "train", "--data", "slice.txt", "--out", "diverged", "--steps", "20", "--no-progress",
        "--set", "context=16", "--set", "width=16", "--set", "layers=1", "--set", "batch=4", "--set", "eval-iters=1",
        "--set", "eval-interval=20", "--set", "checkpoint-interval=1", "--set", "sample-tokens=0",
        "--set", "warmup=0", "--set", "lr=1e30", "--set", "min-lr=1e30");
    assertOneLineError(c, 1, "training diverged at step ");
    assertTrue(c.err().contains("the last good checkpoint in ") && c.err().contains("is intact"), c.err());
    String state = Files.readString(work.resolve("diverged/checkpoints/last/state.json"));
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"step\" : (\\d+)").matcher(state);
    assertTrue(m.find(), state);
    java.util.regex.Matcher d = java.util.regex.Pattern.compile("diverged at step (\\d+)").matcher(c.err());
    assertTrue(d.find(), c.err());
    assertTrue(Long.parseLong(m.group(1)) < Long.parseLong(d.group(1)), state + "\n" + c.err());
    assertEquals(0, Cli.run(work, "eval", "--run", "diverged").code(), "the kept checkpoint is readable");
  }

  @Test
  void checkpointProblems() throws Exception {
    Cli t = Cli.run(work, "train", "--data", "slice.txt", "--out", "r", "--steps", "10", "--no-progress",
        "--set", "context=16", "--set", "width=16", "--set", "layers=1", "--set", "batch=4", "--set", "eval-iters=2",
        "--set", "eval-interval=10", "--set", "sample-tokens=0");
    assertEquals(0, t.code(), t.toString());
    assertOneLineError(Cli.run(work, "sample", "--run", "r", "--prompt", "日本"), 1,
        "the character '日' at position 0 is not in the model's vocabulary");
    assertOneLineError(Cli.run(work, "sample", "--run", "nowhere"), 1, "run directory ");

    Path data = work.resolve("r/checkpoints/last/variables.data-00000-of-00001");
    byte[] original = Files.readAllBytes(data);
    try (RandomAccessFile f = new RandomAccessFile(data.toFile(), "rw")) {
      f.seek(original.length / 2);
      f.write(original[original.length / 2] ^ 0x5a);
    }
    Cli corrupt = Cli.run(work, "eval", "--run", "r");
    assertOneLineError(corrupt, 1, "checkpoint ");
    assertTrue(corrupt.err().contains("does not match its checksum"), corrupt.err());
    Cli resume = Cli.run(work, "train", "--resume", "--out", "r", "--no-progress");
    assertOneLineError(resume, 1, "checkpoint ");

    try (RandomAccessFile f = new RandomAccessFile(data.toFile(), "rw")) {
      f.setLength(original.length / 3);
    }
    Cli truncated = Cli.run(work, "sample", "--run", "r");
    assertOneLineError(truncated, 1, "checkpoint ");
    assertTrue(truncated.err().contains("corrupt or truncated"), truncated.err());
    Files.write(data, original);
    assertEquals(0, Cli.run(work, "eval", "--run", "r").code(), "intact again");
  }
}
