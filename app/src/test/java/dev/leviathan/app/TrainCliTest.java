package dev.leviathan.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.trainer.Corpus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** End to end through the CLI entry point: train, sample, eval on a slice of the bundled corpus. */
class TrainCliTest {
  @TempDir static Path work;
  static Cli trained;
  static Path run;

  static final String[] TINY = {"--set", "context=32", "--set", "width=32", "--set", "layers=2", "--set", "batch=8",
      "--set", "eval-interval=20", "--set", "eval-iters=5", "--set", "checkpoint-interval=20", "--set", "warmup=10",
      "--set", "lr=3e-3", "--set", "sample-tokens=40", "--no-progress"};

  static String[] tiny(String... more) {
    String[] all = new String[TINY.length + more.length];
    System.arraycopy(more, 0, all, 0, more.length);
    System.arraycopy(TINY, 0, all, more.length, TINY.length);
    return all;
  }

  @BeforeAll
  static void trainTinyModel() throws Exception {
    Files.writeString(work.resolve("slice.txt"), Corpus.bundledText().substring(0, 40_000));
    run = work.resolve("runs").resolve("tiny");
    trained = Cli.run(work, tiny("train", "--data", "slice.txt", "--out", "runs/tiny", "--steps", "80"));
  }

  @Test
  void trainingLowersValidationLossAndWritesTheRunDirectory() throws Exception {
    assertEquals(0, trained.code(), trained.toString());
    for (String f : List.of("config.yaml", "run.json", "metrics.csv", "loss.png", "samples.txt",
        "checkpoints/last/state.json", "checkpoints/last/variables.index", "checkpoints/best/checksums.sha256")) {
      assertTrue(Files.exists(run.resolve(f)), f + " missing\n" + trained);
    }
    List<String> rows = Files.readAllLines(run.resolve("metrics.csv"));
    assertEquals("step,train_loss,val_loss,val_bpc,lr,tokens_per_sec,elapsed_sec", rows.get(0));
    assertEquals(1 + 5, rows.size(), "evaluations at steps 0, 20, 40, 60, 80");
    double first = Double.parseDouble(rows.get(1).split(",")[2]);
    double last = Double.parseDouble(rows.get(rows.size() - 1).split(",")[2]);
    assertTrue(last < first - 0.5, "val loss fell from " + first + " to " + last);
    assertTrue(trained.out().contains("parameters: "), trained.out());
    Matcher m = Pattern.compile("final: step=80 val_loss=([0-9.]+) val_bpc=([0-9.]+) tokens_per_sec=\\d+").matcher(trained.out());
    assertTrue(m.find(), trained.out());
    assertEquals(Double.parseDouble(m.group(1)) / Math.log(2), Double.parseDouble(m.group(2)), 1e-3);
    String runJson = Files.readString(run.resolve("run.json"));
    assertTrue(runJson.contains("\"tensorflow\"") && runJson.contains("\"command\"") && runJson.contains("attention"),
        runJson);
  }

  @Test
  void sampleProducesTextFromTheVocabulary() {
    Cli s = Cli.run(work, "sample", "--run", "runs/tiny", "--prompt", "ROMEO:", "--tokens", "60", "--seed", "3");
    assertEquals(0, s.code(), s.toString());
    assertTrue(s.out().startsWith("ROMEO:"), s.out());
    assertTrue(s.out().strip().length() >= 40, s.out());
    Cli again = Cli.run(work, "sample", "--run", "runs/tiny", "--prompt", "ROMEO:", "--tokens", "60", "--seed", "3");
    assertEquals(s.out(), again.out(), "same seed, same text");
    assertTrue(s.err().matches("(?s).*sampled 60 tokens in [0-9.]+ s: [0-9.]+ tokens/s \\(cached generation\\)\n.*"),
        s.err());
    Cli recomputed = Cli.run(work, "sample", "--run", "runs/tiny", "--prompt", "ROMEO:", "--tokens", "60", "--seed", "3",
        "--full-recompute");
    assertEquals(s.out(), recomputed.out(), "cached generation and full recompute give the same text");
    assertTrue(recomputed.err().contains("tokens/s (full recompute)"), recomputed.err());
    Cli topK = Cli.run(work, "sample", "--run", "runs/tiny", "--tokens", "30", "--top-k", "1", "--temperature", "0.5");
    assertEquals(0, topK.code(), topK.toString());
  }

  @Test
  void evalReproducesTheStoredValidationLoss() throws Exception {
    Cli e = Cli.run(work, "eval", "--run", "runs/tiny");
    assertEquals(0, e.code(), e.toString());
    Matcher m = Pattern.compile("val_loss=([0-9.]+) val_bpc=([0-9.]+)").matcher(e.out());
    assertTrue(m.find(), e.out());
    List<String> rows = Files.readAllLines(run.resolve("metrics.csv"));
    double stored = Double.parseDouble(rows.get(rows.size() - 1).split(",")[2]);
    assertEquals(stored, Double.parseDouble(m.group(1)), 2e-4, e.out());
  }

  @Test
  void resumeContinuesTheStepCountAndRefusesAnotherModel() throws Exception {
    Path copy = work.resolve("runs").resolve("tiny-resumed");
    copyTree(run, copy);
    Cli more = Cli.run(work, tiny("train", "--resume", "--out", "runs/tiny-resumed", "--steps", "100"));
    assertEquals(0, more.code(), more.toString());
    assertTrue(more.out().contains("steps 80 -> 100"), more.out());
    List<String> rows = Files.readAllLines(copy.resolve("metrics.csv"));
    assertTrue(rows.get(rows.size() - 1).startsWith("100,"), rows.toString());
    List<String> args = new java.util.ArrayList<>(List.of(tiny("train", "--resume", "--out", "runs/tiny-resumed")));
    args.addAll(List.of("--set", "width=64"));
    Cli other = Cli.run(work, args.toArray(String[]::new));
    assertEquals(1, other.code(), other.toString());
    assertTrue(other.err().startsWith("error: cannot resume: the checkpoint was trained with a different model or data"
        + " (width: checkpoint 32, requested 64)"), other.err());
  }

  @Test
  void aDataFileNameIsNeverReadAsYaml() throws Exception {
    String name = "a#b: c, [d].txt";
    Files.writeString(work.resolve(name), Corpus.bundledText().substring(0, 20_000));
    Cli t = Cli.run(work, tiny("train", "--data", name, "--out", "runs/odd-name", "--steps", "2",
        "--set", "sample-tokens=0"));
    assertEquals(0, t.code(), t.toString());
    assertTrue(Files.readString(work.resolve("runs/odd-name/config.yaml")).contains(name));
    Cli more = Cli.run(work, tiny("train", "--resume", "--out", "runs/odd-name", "--steps", "3",
        "--set", "sample-tokens=0"));
    assertEquals(0, more.code(), more.toString());
    Cli eval = Cli.run(work, "eval", "--run", "runs/odd-name");
    assertTrue(eval.out().contains("(step 3, checkpoint last, " + work.resolve(name).normalize() + ")"), eval.out());
  }

  @Test
  void mixersListsBuiltInsWithTheirJars() {
    Cli m = Cli.run(work, "mixers");
    assertEquals(0, m.code(), m.toString());
    assertTrue(m.out().contains("attention"), m.out());
    assertTrue(m.out().contains("heads=4 (an integer >= 1)"), m.out());
    Cli j = Cli.run(work, "mixers", "--json");
    assertTrue(j.out().contains("\"name\" : \"mlp\""), j.out());
    assertTrue(j.out().contains("\"source\" : \"built-in"), j.out());
  }

  @Test
  void printConfigShowsTheResolvedConfig() {
    Cli c = Cli.run(work, "train", "--print-config", "--mixer", "attention", "--set", "width=96");
    assertEquals(0, c.code(), c.toString());
    assertTrue(c.out().contains("width: 96"), c.out());
    assertFalse(Files.exists(work.resolve("runs").resolve("x")));
  }

  @Test
  void nonCausalMixerIsRefusedUnlessAllowedAndThenWarnsOnEveryEvaluation() throws Exception {
    Cli refused = Cli.run(work, tiny("train", "--data", "slice.txt", "--mixer", "correlation-literal", "--out", "runs/nc"));
    assertEquals(1, refused.code(), refused.toString());
    assertTrue(refused.err().startsWith("error: the mixer stack correlation-literal is not causal"), refused.err());
    assertTrue(refused.err().contains("pass --allow-noncausal"), refused.err());
    assertFalse(Files.exists(work.resolve("runs/nc")), "nothing written");
    Cli allowed = Cli.run(work, tiny("train", "--data", "slice.txt", "--mixer", "correlation-literal", "--out", "runs/nc",
        "--steps", "20", "--allow-noncausal", "--set", "token-mixer-options.heads=2"));
    assertEquals(0, allowed.code(), allowed.toString());
    List<String> evals = allowed.out().lines().filter(l -> l.startsWith("eval step")).toList();
    assertEquals(2, evals.size(), allowed.out());
    for (String line : evals) {
      assertTrue(line.contains("WARNING: non-causal mixer: the loss is not a valid language-modelling loss"), line);
    }
  }

  @Test
  void deviceChoiceIsPrintedAndRecordedAndAMissingGpuIsRefused() throws Exception {
    Cli cpu = Cli.run(work, tiny("train", "--data", "slice.txt", "--out", "runs/cpu", "--steps", "2", "--device", "cpu"));
    assertEquals(0, cpu.code(), cpu.toString());
    assertTrue(cpu.out().startsWith("devices: CPU:0 (GPUs hidden by --device cpu) | model runs on: CPU (CPU:0)\n"),
        cpu.out());
    assertTrue(cpu.out().contains("| device: cpu |"), cpu.out());
    String runJson = Files.readString(work.resolve("runs/cpu/run.json"));
    assertTrue(runJson.contains("\"device\" : \"cpu\"") && runJson.contains("\"device-option\" : \"cpu\"")
        && runJson.contains("\"type\" : \"CPU\"") && runJson.contains("--device cpu"), runJson);

    Cli usage = Cli.run(work, "train", "--device", "tpu");
    assertEquals(Main.EXIT_USAGE, usage.code(), usage.toString());
    assertTrue(usage.err().startsWith("error: Invalid value for option '--device'"), usage.err());

    org.junit.jupiter.api.Assumptions.assumeTrue(!cpu.out().contains("GPU:"), "this host has a GPU");
    Cli gpu = Cli.run(work, tiny("train", "--data", "slice.txt", "--out", "runs/gpu", "--steps", "2", "--device", "gpu"));
    assertEquals(Main.EXIT_ERROR, gpu.code(), gpu.toString());
    assertEquals(1, gpu.err().lines().count(), gpu.err());
    assertTrue(gpu.err().startsWith("error: --device gpu: TensorFlow sees no GPU (devices: CPU:0); "), gpu.err());
    assertFalse(Files.exists(work.resolve("runs/gpu")), "nothing is written when the device is refused");
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
