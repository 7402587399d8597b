package dev.leviathan.app;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.app.launch.LaunchCommand;
import dev.leviathan.app.launch.LocalWorkers;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.trainer.CheckpointState;
import dev.leviathan.trainer.RunDirectory;
import dev.leviathan.trainer.Trainer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Data-parallel training with {@code launch}: worker processes on loopback joined by TensorFlow's
 * distributed runtime. Every worker is its own JVM (a TensorFlow server ends only with its process).
 */
class LaunchTest {
  private static final Map<String, String> ENV = Map.of("TF_CPP_MIN_LOG_LEVEL", "2");
  private static final int STEPS = 10;

  @TempDir
  Path work;

  private static List<String> tiny(String... more) {
    List<String> a = new ArrayList<>(List.of("--no-progress", "--set", "context=32", "--set", "width=32",
        "--set", "layers=2", "--set", "eval-iters=2", "--set", "warmup=3", "--set", "lr=3e-3",
        "--set", "sample-tokens=0", "--set", "intra-op-threads=1", "--set", "inter-op-threads=1"));
    a.addAll(List.of(more));
    return a;
  }

  private static String[] args(List<String> head, List<String> tail) {
    List<String> all = new ArrayList<>(head);
    all.addAll(tail);
    return all.toArray(String[]::new);
  }

  @Test
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void twoWorkersWithBatchBTrainAsOneProcessWithBatch2B() throws Exception {
    List<String> common = tiny("--steps", "" + STEPS, "--set", "eval-interval=1", "--set", "checkpoint-interval=10");
    Cli one = Cli.run(work, args(List.of("train", "--out", "runs/one", "--set", "batch=8"), common));
    assertEquals(0, one.code(), one.toString());
    Cli two = Cli.run(work, ENV, args(List.of("launch", "--workers", "2", "--out", "runs/two", "--set", "batch=4"),
        common));
    assertEquals(0, two.code(), two.toString());
    assertTrue(two.out().contains("global batch 2 workers x 4 = 8"), two.out());
    assertTrue(two.out().contains("cluster: all 2 workers ended at step 10 with bitwise equal parameters"), two.out());

    double[] lossOne = stepLosses(one.out());
    double[] lossTwo = stepLosses(two.out());
    assertArrayEquals(lossOne, lossTwo, 2e-4, "step losses (printed with 4 decimals)");
    List<String> rowsOne = Files.readAllLines(work.resolve("runs/one/metrics.csv"));
    List<String> rowsTwo = Files.readAllLines(work.resolve("runs/two/metrics.csv"));
    assertEquals(STEPS + 2, rowsTwo.size(), "header and an evaluation at every step");
    for (int i = 1; i < rowsOne.size(); i++) {
      String[] a = rowsOne.get(i).split(",");
      String[] b = rowsTwo.get(i).split(",");
      for (int col = 1; col <= 2; col++) {
        assertEquals(Double.parseDouble(a[col]), Double.parseDouble(b[col]), 1e-5, "step " + a[0] + " column " + col);
      }
    }
    Trainer trainer = new Trainer(MixerRegistry.discover());
    try (Trainer.LoadedRun a = trainer.open(work.resolve("runs/one"), "last");
        Trainer.LoadedRun b = trainer.open(work.resolve("runs/two"), "last")) {
      Map<String, float[]> pa = a.runtime().parameters().read(a.runtime().session());
      Map<String, float[]> pb = b.runtime().parameters().read(b.runtime().session());
      assertEquals(pa.keySet(), pb.keySet());
      for (String name : pa.keySet()) {
        assertArrayEquals(pa.get(name), pb.get(name), 1e-5f, name);
      }
    }
    String runJson = Files.readString(work.resolve("runs/two/run.json"));
    assertTrue(runJson.contains("\"global-batch\" : 8") && runJson.contains("\"batch-per-worker\" : 4"), runJson);
  }

  private static double[] stepLosses(String out) {
    return out.lines().filter(l -> l.startsWith("step ")).mapToDouble(l -> Double.parseDouble(
        l.replaceAll(".*\\| loss ([0-9.]+) .*", "$1"))).toArray();
  }

  @Test
  @Timeout(value = 200, unit = TimeUnit.SECONDS)
  void killingWorker1StopsTheLaunchInOneLineAndResumeContinues() throws Exception {
    List<String> common = tiny("--out", "runs/k", "--set", "batch=4", "--set", "eval-interval=50",
        "--set", "checkpoint-interval=20", "--collective-timeout", "5");
    String[] first = args(List.of("launch", "--workers", "2", "--grace", "20", "--steps", "100000"), common);
    CompletableFuture<Cli> launch = CompletableFuture.supplyAsync(() -> Cli.run(work, ENV, first));
    Path state = work.resolve("runs/k/checkpoints/last/state.json");
    long end = System.nanoTime() + Duration.ofSeconds(90).toNanos();
    while (!Files.exists(state) && System.nanoTime() < end && !launch.isDone()) {
      Thread.sleep(200);
    }
    assertTrue(Files.exists(state), "no checkpoint within 90 s: " + (launch.isDone() ? launch.get() : "still running"));
    ProcessHandle worker1 = worker(1).orElseThrow(() -> new AssertionError("worker 1 not found"));
    worker1.destroyForcibly();
    long t0 = System.nanoTime();
    Cli killed = launch.get(60, TimeUnit.SECONDS);
    double secs = (System.nanoTime() - t0) / 1e9;
    assertEquals(1, killed.code(), killed.toString());
    assertTrue(secs < 25 + 5, "the launch ended " + secs + " s after the kill");
    List<String> errors = killed.err().lines().filter(l -> l.startsWith("error: ")).toList();
    String last = errors.get(errors.size() - 1);
    assertTrue(last.matches("error: worker 1 \\(127\\.0\\.0\\.1:[0-9]+\\) exited with code 137 \\(ended by signal 9\\);"
        + " the other workers were stopped; continue with: leviathan launch --workers 2 .* --resume"), killed.toString());
    assertTrue(errors.stream().anyMatch(l -> l.matches("error: worker 1 \\(127\\.0\\.0\\.1:[0-9]+\\) stopped responding"
        + " at step [0-9]+ \\(.*\\); last checkpoint: .*checkpoints; restart all workers with --resume")), killed.toString());
    assertTrue(killed.out().contains("cluster: worker 0 of 2"), killed.out());

    CheckpointState saved = new RunDirectory(work.resolve("runs/k")).checkpoints().read("last");
    long target = saved.step() + 5;
    Cli resumed = Cli.run(work, ENV, args(List.of("launch", "--workers", "2", "--resume", "--steps", "" + target),
        common));
    assertEquals(0, resumed.code(), resumed.toString());
    assertTrue(resumed.out().contains("resuming"), resumed.out());
    assertEquals(target, new RunDirectory(work.resolve("runs/k")).checkpoints().read("last").step());
    assertTrue(resumed.out().contains("cluster: all 2 workers ended at step " + target), resumed.out());
  }

  /** The launched worker process whose TF_CONFIG names task {@code index}. */
  private static Optional<ProcessHandle> worker(int index) {
    return ProcessHandle.current().descendants().filter(p -> {
      try {
        String env = Files.readString(Path.of("/proc", Long.toString(p.pid()), "environ"), StandardCharsets.ISO_8859_1);
        return env.contains("TF_CONFIG=") && env.contains("\"index\":" + index + "}");
      } catch (IOException e) {
        return false;
      }
    }).findFirst();
  }

  @Test
  void tfConfigErrorsAreOneLine() throws Exception {
    String[] train = args(List.of("train", "--steps", "1", "--out", "runs/e"), tiny());
    Cli bad = Cli.run(work, Map.of("TF_CONFIG", "{\"cluster\": {\"worker\": [\"127.0.0.1:1\""), train);
    assertOneLine(bad, "error: TF_CONFIG is not valid JSON");
    Cli range = Cli.run(work, Map.of("TF_CONFIG",
        "{\"cluster\": {\"worker\": [\"127.0.0.1:2222\", \"127.0.0.1:2223\"]}, \"task\": {\"type\": \"worker\", \"index\": 2}}"),
        train);
    assertOneLine(range, "error: TF_CONFIG task.index 2 is out of range: cluster.worker has 2 address(es), so use 0..1");
    Cli both = Cli.run(work, Map.of("TF_CONFIG", "{}"), args(List.of("train", "--cluster", "127.0.0.1:2222", "--task", "0"),
        tiny()));
    assertOneLine(both, "error: both TF_CONFIG and --cluster/--task are set");
    try (java.net.ServerSocket held = new java.net.ServerSocket(0)) {
      int port = held.getLocalPort();
      Cli inUse = Cli.run(work, Map.of("TF_CONFIG", "{\"cluster\": {\"worker\": [\"127.0.0.1:" + port
          + "\", \"127.0.0.1:1\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}"), train);
      assertOneLine(inUse, "error: worker 0 (127.0.0.1:" + port + "): port " + port + " is in use on this machine");
    }
    assertTrue(!Files.exists(work.resolve("runs/e/checkpoints")), "nothing was trained");
  }

  private static void assertOneLine(Cli r, String start) {
    assertEquals(1, r.code(), r.toString());
    List<String> lines = r.err().lines().filter(l -> !l.startsWith("warning: ")).toList();
    assertEquals(1, lines.size(), r.toString());
    assertTrue(lines.get(0).startsWith(start), r.toString());
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void workersWithDifferentConfigsAreRefusedNamingTheWorker() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        LocalWorkers w = LocalWorkers.start(2, i -> LaunchCommand.leviathan(List.of(args(List.of("train", "--steps", "3",
            "--out", "runs/m", "--set", "batch=" + (4 + i)), tiny()))), work, ENV, o, e)) {
      LocalWorkers.Outcome outcome = w.await(Duration.ofSeconds(30), e);
      String addr0 = w.cluster().workers().get(0).toString();
      String addr1 = w.cluster().workers().get(1).toString();
      String expected = "worker 1 (" + addr1 + ") has a different config than worker 0 (" + addr0
          + "); start every worker with the same config";
      assertEquals(1, outcome.code(), outcome + "\n" + err);
      assertTrue(outcome.failure().endsWith(": " + expected), outcome.failure());
      assertTrue(err.toString(StandardCharsets.UTF_8).contains("error: " + expected), err.toString(StandardCharsets.UTF_8));
      assertEquals(1, w.processes().get(1).exitValue());
    }
  }
}
