package dev.leviathan.app.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.trainer.Corpus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code leviathan compare} end to end on a slice of the bundled corpus with a tiny model. */
class CompareCommandTest {
  static final String HEADER = "mixer,seed,steps,params,val_loss,val_bpc,tokens_per_sec,wall_sec,status,error";
  static final String[] TINY = {"--config", "tiny.yaml", "--data", "slice.txt", "--seeds", "1", "--set", "context=16",
      "--set", "width=16", "--set", "layers=1", "--set", "batch=4", "--set", "eval-interval=3", "--set", "eval-iters=2",
      "--set", "sample-tokens=0"};

  @TempDir static Path work;
  static CliRun compared;

  static String[] args(String... more) {
    List<String> a = new ArrayList<>(List.of(more));
    a.addAll(List.of(TINY));
    return a.toArray(String[]::new);
  }

  @BeforeAll
  static void compareTwoMixers() throws Exception {
    Files.writeString(work.resolve("slice.txt"), Corpus.bundledText().substring(0, 20_000));
    Files.copy(Path.of("..", "configs", "tiny-test.yaml"), work.resolve("tiny.yaml"));
    compared = CliRun.run(work, args("compare", "--mixers", "attention,correlation", "--steps", "6", "--out", "cmp"));
  }

  @Test
  void writesTheTableTheSummaryThePlotAndRunsThatEvalOpens() throws Exception {
    assertEquals(0, compared.code(), compared.toString());
    Path dir = work.resolve("cmp");
    List<String> csv = Files.readAllLines(dir.resolve("compare.csv"));
    assertEquals(HEADER, csv.get(0));
    assertEquals(3, csv.size(), csv.toString());
    for (int i = 0; i < 2; i++) {
      String mixer = i == 0 ? "attention" : "correlation";
      List<String> f = Reports.cells(csv.get(i + 1));
      assertEquals(List.of(mixer, "1", "6"), f.subList(0, 3), csv.get(i + 1));
      int vocab = (int) Files.readString(work.resolve("slice.txt")).chars().distinct().count();
      assertEquals(BenchCommandTest.expectedParameters(mixer, vocab, 16, 16, 1), Long.parseLong(f.get(3)), "parameters");
      double valLoss = Double.parseDouble(f.get(4));
      assertTrue(valLoss > 2 && valLoss < 4.5, "a 65-character model after 6 steps: " + valLoss);
      assertEquals(valLoss / Math.log(2), Double.parseDouble(f.get(5)), 2e-4, "bits per character");
      assertTrue(Double.parseDouble(f.get(6)) > 0 && Double.parseDouble(f.get(7)) > 0, csv.get(i + 1));
      assertEquals(List.of("ok", ""), f.subList(8, 10));

      // An ordinary run directory: eval reproduces the final validation loss from its checkpoint.
      CliRun eval = CliRun.run(work, "eval", "--run", "cmp/" + mixer + "-seed1");
      assertEquals(0, eval.code(), eval.toString());
      Matcher m = Pattern.compile("val_loss=([0-9.]+)").matcher(eval.out());
      assertTrue(m.find(), eval.out());
      assertEquals(valLoss, Double.parseDouble(m.group(1)), 2e-4, eval.out());

      // Each run has its own tb/, so `tensorboard --logdir cmp` lists the runs side by side.
      long valScalars = dev.leviathan.trainer.EventFiles.eventsIn(dir.resolve(mixer + "-seed1/tb")).stream()
          .flatMap(e -> e.getSummary().getValueList().stream()).filter(v -> v.getTag().equals("loss/val")).count();
      assertEquals(1 + 2, valScalars, "validation loss at steps 0, 3 and 6");
    }
    String md = Files.readString(dir.resolve("compare.md"));
    assertTrue(md.contains("| mixer | seeds | params | val loss | val bpc | tokens/s | wall time (s) |"), md);
    assertTrue(md.contains("| attention | 1/1 | ") && md.contains("| correlation | 1/1 | "), md);
    byte[] png = Files.readAllBytes(dir.resolve("compare.png"));
    assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(png, 4));
  }

  @Test
  void resumeSkipsFinishedRunsAndContinuesUnfinishedOnes() throws Exception {
    assertEquals(0, compared.code(), compared.toString());
    Path copy = work.resolve("cmp-resume");
    copyTree(work.resolve("cmp"), copy);
    Path state = copy.resolve("attention-seed1/checkpoints/last/state.json");
    byte[] before = Files.readAllBytes(state);
    Files.setLastModifiedTime(state, FileTime.fromMillis(0));

    CliRun skip = CliRun.run(work, args("compare", "--mixers", "attention,correlation", "--steps", "6",
        "--out", "cmp-resume", "--resume"));
    assertEquals(0, skip.code(), skip.toString());
    assertTrue(skip.out().contains("[attention seed 1] finished earlier (step 6): skipped"), skip.out());
    assertTrue(skip.out().contains("[correlation seed 1] finished earlier (step 6): skipped"), skip.out());
    assertFalse(skip.out().contains("training in"), skip.out());
    assertArrayEquals(before, Files.readAllBytes(state));
    assertEquals(0, Files.getLastModifiedTime(state).toMillis(), "the finished checkpoint was not rewritten");
    assertEquals(Files.readAllLines(work.resolve("cmp/compare.csv")), Files.readAllLines(copy.resolve("compare.csv")));

    // A run whose last checkpoint is short of the budget is resumed, not restarted.
    CliRun more = CliRun.run(work, args("compare", "--mixers", "attention", "--steps", "9", "--out", "cmp-resume",
        "--resume"));
    assertEquals(0, more.code(), more.toString());
    assertTrue(more.out().contains("[attention seed 1] resuming in ") && more.out().contains("steps 6 -> 9"), more.out());
    List<String> metrics = Files.readAllLines(copy.resolve("attention-seed1/metrics.csv"));
    assertEquals(List.of("0", "3", "6", "9"), metrics.subList(1, metrics.size()).stream()
        .map(l -> l.substring(0, l.indexOf(','))).toList());
    assertTrue(Files.readAllLines(copy.resolve("compare.csv")).get(1).startsWith("attention,1,9,"));
  }

  @Test
  void anExistingComparisonIsNotOverwrittenWithoutResume() throws Exception {
    assertEquals(0, compared.code(), compared.toString());
    List<String> csv = Files.readAllLines(work.resolve("cmp/compare.csv"));
    CliRun again = CliRun.run(work, args("compare", "--mixers", "attention,correlation", "--steps", "6", "--out", "cmp"));
    assertEquals(1, again.code(), again.toString());
    assertTrue(again.err().startsWith("error: the comparison folder ") && again.err().contains(
        "already holds the run attention-seed1; pass --resume"), again.err());
    assertEquals(csv, Files.readAllLines(work.resolve("cmp/compare.csv")));
  }

  @Test
  void aNonCausalMixerIsRefusedBeforeAnythingIsTrained() {
    CliRun r = CliRun.run(work, args("compare", "--mixers", "attention,correlation-literal", "--steps", "6",
        "--out", "noncausal"));
    assertEquals(1, r.code(), r.toString());
    assertTrue(r.err().startsWith("error: the mixer correlation-literal is not causal"), r.err());
    assertTrue(r.err().contains("--allow-noncausal"), r.err());
    assertFalse(Files.exists(work.resolve("noncausal")));
  }

  @Test
  void aFailingMixerIsRecordedWithItsErrorAndTheOthersStillRun() throws Exception {
    // The config's own mixer gets its options (3 heads do not divide width 16); correlation gets its defaults.
    Files.writeString(work.resolve("three-heads.yaml"),
        Files.readString(work.resolve("tiny.yaml")) + "token-mixer: attention\ntoken-mixer-options:\n  heads: 3\n");
    List<String> a = new ArrayList<>(List.of(args("compare", "--mixers", "attention,correlation", "--steps", "3",
        "--out", "failing")));
    a.set(a.indexOf("tiny.yaml"), "three-heads.yaml");
    CliRun r = CliRun.run(work, a.toArray(String[]::new));
    assertEquals(1, r.code(), r.toString());
    assertTrue(r.err().startsWith("error: 1 of 2 runs failed (attention-seed1: mixer 'attention': option 'heads'"),
        r.err());
    List<String> csv = Files.readAllLines(work.resolve("failing/compare.csv"));
    assertEquals(3, csv.size(), csv.toString());
    List<String> failed = Reports.cells(csv.get(1));
    assertEquals(List.of("attention", "1", "", "", "", "", "", "", "failed"), failed.subList(0, 9));
    assertTrue(failed.get(9).contains("it must divide the width 16"), failed.get(9));
    assertTrue(csv.get(2).startsWith("correlation,1,3,") && csv.get(2).endsWith(",ok,"), csv.get(2));
    assertTrue(Files.exists(work.resolve("failing/correlation-seed1/checkpoints/last/state.json")));
    assertTrue(Files.readString(work.resolve("failing/compare.md")).contains("- attention-seed1: failed — mixer"));
    assertTrue(Files.exists(work.resolve("failing/compare.png")));
  }

  static void copyTree(Path from, Path to) throws Exception {
    try (var s = Files.walk(from)) {
      for (Path p : s.toList()) {
        Path t = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(t);
        } else {
          Files.copy(p, t);
        }
      }
    }
  }
}
