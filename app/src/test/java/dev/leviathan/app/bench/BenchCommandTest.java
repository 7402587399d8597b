package dev.leviathan.app.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.trainer.ConfigLoader;
import dev.leviathan.trainer.ModelRuntime;
import dev.leviathan.trainer.RunSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code leviathan bench} end to end: every configuration in its own worker JVM. */
class BenchCommandTest {
  static final String HEADER = "mixer,context,batch,width,layers,params,step_ms,tokens_per_sec,forward_ms,peak_mb,"
      + "first_step_ms,rss_mb,status,runs,step_ms_min,step_ms_max,cpu_ms";

  @TempDir Path work;

  @Test
  void measuresATinyConfigurationAndWritesTheCsvTableAndPlot() throws Exception {
    CliRun r = CliRun.run(work, "bench", "--mixers", "attention", "--context", "16", "--width", "16", "--layers", "1",
        "--warmup", "1", "--steps", "2", "--out", "b/tiny.csv");
    assertEquals(0, r.code(), r.toString());
    List<String> lines = Files.readAllLines(work.resolve("b/tiny.csv"));
    assertEquals(HEADER, lines.get(0));
    assertEquals(2, lines.size(), lines.toString());
    String[] f = lines.get(1).split(",", -1);
    assertEquals(List.of("attention", "16", "1", "16", "1"), Arrays.asList(f).subList(0, 5));
    assertEquals(expectedParameters("attention", BenchWorker.VOCAB, 16, 16, 1), Long.parseLong(f[5]), "parameters");
    double stepMs = Double.parseDouble(f[6]);
    double tokensPerSec = Double.parseDouble(f[7]);
    double forwardMs = Double.parseDouble(f[8]);
    assertTrue(stepMs > 0 && forwardMs > 0, lines.get(1));
    assertEquals(16 / (stepMs / 1000), tokensPerSec, 0.01 * tokensPerSec, "tokens/s = batch * context / step time");
    if (Files.exists(Path.of("/proc/self/status"))) {
      double peak = Double.parseDouble(f[9]);
      assertTrue(peak > 0 && peak < 4096, "peak memory of a 16-token step: " + peak + " MB");
    }
    double cpuMs = Double.parseDouble(f[16]);
    assertTrue(cpuMs > 0, "CPU time per step: " + lines.get(1));
    double firstStepMs = Double.parseDouble(f[10]);
    assertTrue(firstStepMs > 0, "the first step is reported on its own: " + lines.get(1));
    if (Files.exists(Path.of("/proc/self/status"))) {
      double rss = Double.parseDouble(f[11]);
      assertTrue(rss > Double.parseDouble(f[9]), "the process's peak includes the JVM and the model: " + lines.get(1));
    }
    assertEquals("ok", f[12]);
    assertEquals(List.of("1", f[6], f[6]), Arrays.asList(f).subList(13, 16), "one run: its step time is the range");

    byte[] png = Files.readAllBytes(work.resolve("b/tiny.png"));
    assertTrue(png.length > 1000, "plot has content");
    assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(png, 4));
    assertTrue(r.out().contains("mixer      context  batch  width  layers  params"), r.out());
    assertTrue(r.out().lines().anyMatch(l -> l.startsWith("attention") && l.matches(".* ok +1 .*")), r.out());
  }

  @Test
  void repeatRunsEveryConfigurationOncePerRoundAndReportsTheMedianAndRange() throws Exception {
    CliRun r = CliRun.run(work, "bench", "--mixers", "attention,aft-simple", "--context", "8", "--width", "16",
        "--layers", "1", "--warmup", "1", "--steps", "2", "--repeat", "3", "--out", "r/bench.csv");
    assertEquals(0, r.code(), r.toString());
    // rounds: every configuration once, then again
    List<String> started = r.out().lines().filter(l -> l.startsWith("[")).map(l -> l.substring(0, l.indexOf(" ...")))
        .toList();
    assertEquals(List.of("[1/2] attention, context 8 (round 1/3)", "[2/2] aft-simple, context 8 (round 1/3)",
        "[1/2] attention, context 8 (round 2/3)", "[2/2] aft-simple, context 8 (round 2/3)",
        "[1/2] attention, context 8 (round 3/3)", "[2/2] aft-simple, context 8 (round 3/3)"), started);
    List<String> lines = Files.readAllLines(work.resolve("r/bench.csv"));
    assertEquals(3, lines.size(), lines.toString());
    for (int i = 0; i < 2; i++) {
      String mixer = i == 0 ? "attention" : "aft-simple";
      String[] f = lines.get(1 + i).split(",", -1);
      assertEquals(mixer, f[0]);
      assertEquals("3", f[13], "three finished runs");
      // the printed step times of this configuration's runs, in order
      List<Double> each = r.out().lines().filter(l -> l.contains("] " + mixer + ", context 8 (round"))
          .map(l -> Double.parseDouble(l.replaceFirst(".* \\.\\.\\. ([0-9.]+) ms/step.*", "$1"))).sorted().toList();
      assertEquals(3, each.size());
      double median = Double.parseDouble(f[6]);
      assertEquals(each.get(1), median, 0.051, "the median of the three runs (printed to 0.1 ms)");
      assertEquals(each.get(0), Double.parseDouble(f[14]), 0.051, "fastest");
      assertEquals(each.get(2), Double.parseDouble(f[15]), 0.051, "slowest");
      assertEquals(8 / (median / 1000), Double.parseDouble(f[7]), 0.01 * Double.parseDouble(f[7]), "tokens/s of the median");
    }
    CliRun bad = CliRun.run(work, "bench", "--repeat", "0");
    assertEquals(2, bad.code(), bad.toString());
    assertTrue(bad.err().startsWith("error: --repeat must be >= 1, got 0"), bad.err());
  }

  @Test
  void aConfigurationOverTheTimeLimitIsRecordedAndTheRunContinues() throws Exception {
    CliRun r = CliRun.run(work, "bench", "--mixers", "attention", "--context", "8,16", "--width", "16", "--layers", "1",
        "--steps", "1000000", "--time-limit", "1", "--out", "t/bench.csv");
    assertEquals(0, r.code(), r.toString());
    List<String> lines = Files.readAllLines(work.resolve("t/bench.csv"));
    assertEquals(List.of(HEADER, "attention,8,1,16,1,,,,,,,,timeout,0,,,", "attention,16,1,16,1,,,,,,,,timeout,0,,,"),
        lines.stream().map(l -> l.replaceFirst("^(attention,\\d+,1,16,1,)\\d+", "$1")).toList(),
        "params may be known when the model was built before the limit; every number after it is empty");
    assertTrue(r.out().contains("[2/2] attention, context 16 ... timeout: over the time limit of 1 s"), r.out());
    assertTrue(Files.exists(work.resolve("t/bench.png")), "the plot is written even without a finished configuration");
  }

  @Test
  void aConfigurationOverTheMemoryLimitIsRecordedAsOutOfMemory() throws Exception {
    CliRun r = CliRun.run(work, "bench", "--mixers", "attention", "--context", "8", "--width", "16", "--layers", "1",
        "--max-memory", "64", "--out", "m/bench.csv");
    assertEquals(0, r.code(), r.toString());
    List<String> lines = Files.readAllLines(work.resolve("m/bench.csv"));
    assertEquals(2, lines.size(), lines.toString());
    assertTrue(lines.get(1).endsWith(",,,,,,,oom,0,,,"), lines.get(1));
    assertTrue(r.out().contains("oom: resident memory passed --max-memory 64 MB"), r.out());
  }

  @Test
  void badArgumentsFailBeforeAnyWorkerStarts() {
    CliRun r = CliRun.run(work, "bench", "--mixers", "attention,transformer-xl", "--out", "u/bench.csv");
    assertEquals(1, r.code(), r.toString());
    assertTrue(r.err().startsWith("error: A token mixer named 'transformer-xl' does not exist."), r.err());
    assertFalse(Files.exists(work.resolve("u")), "nothing written");
    CliRun steps = CliRun.run(work, "bench", "--steps", "0");
    assertEquals(2, steps.code(), steps.toString());
    assertTrue(steps.err().startsWith("error: --steps must be >= 1, got 0"), steps.err());
    CliRun set = CliRun.run(work, "bench", "--set", "width=8");
    assertEquals(2, set.code(), set.toString());
    assertTrue(set.err().startsWith("error: --set width is not allowed here: bench sets it per configuration; use"
        + " --width"), set.err());
  }

  /** The parameter count of the model, built in this JVM. */
  @Test
  void profileWritesWhereTheStepTimeGoesAndConfigSetsTheModel() throws Exception {
    // no position embedding: the config file is what bench builds from
    Files.writeString(work.resolve("small.yaml"), "position-embedding: false\nnorm: layernorm\n");
    CliRun r = CliRun.run(work, "bench", "--config", "small.yaml", "--mixers", "attention", "--context", "8", "--width",
        "16", "--layers", "1", "--warmup", "1", "--steps", "1", "--profile", "--out", "p/bench.csv");
    assertEquals(0, r.code(), r.toString());
    String[] f = Files.readAllLines(work.resolve("p/bench.csv")).get(1).split(",", -1);
    assertEquals(expectedParameters("attention", BenchWorker.VOCAB, 8, 16, 1) - 8 * 16, Long.parseLong(f[5]),
        "parameters without the 8 x 16 position table");
    List<String> profile = Files.readAllLines(work.resolve("p/bench-profile-attention-8.csv"));
    assertEquals("kind,name,phase,nodes,kernel_ms,percent,gflop,gflop_per_s,saved_mb", profile.get(0));
    assertTrue(profile.stream().anyMatch(l -> l.startsWith("scope,block0/token-mixer,backward,")), profile.toString());
    assertTrue(profile.stream().anyMatch(l -> l.startsWith("scope,optimiser,update,")), profile.toString());
    assertTrue(profile.stream().anyMatch(l -> l.startsWith("op,ApplyAdam,")), profile.toString());
    assertTrue(Files.readString(work.resolve("p/bench-profile-attention-8.txt")).startsWith("profile of 1 traced step"));
    assertTrue(r.out().contains("block0/token-mixer"), r.out());
  }

  static long expectedParameters(String mixer, int vocab, int context, int width, int layers) {
    RunSpec cfg = ConfigLoader.load(null, List.of("token-mixer=" + mixer, "context=" + context, "width=" + width,
        "layers=" + layers));
    try (ModelRuntime rt = ModelRuntime.create(cfg.resolve(MixerRegistry.discover()).model(vocab), cfg, false)) {
      return rt.parameters().count();
    }
  }
}
