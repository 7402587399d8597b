package dev.leviathan.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.trainer.Corpus;
import dev.leviathan.trainer.RunLock;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Divergence on a checkpoint step, two processes on one run directory, a kill during the first checkpoint
 * write, and Java errors from a plugin: each ends in a run that can be continued and one line that says
 * what happened.
 */
class RunSafetyCliTest {
  @TempDir static Path work;

  static final String[] TINY = {"--data", "slice.txt", "--no-progress", "--set", "context=16", "--set", "width=16",
      "--set", "layers=1", "--set", "batch=4", "--set", "eval-iters=1", "--set", "eval-interval=100", "--set",
      "sample-tokens=0", "--set", "checkpoint-interval=1"};

  static String[] train(String... args) {
    String[] all = new String[1 + TINY.length + args.length];
    all[0] = "train";
    System.arraycopy(TINY, 0, all, 1, TINY.length);
    System.arraycopy(args, 0, all, 1 + TINY.length, args.length);
    return all;
  }

  @BeforeAll
  static void data() throws Exception {
    Files.writeString(work.resolve("slice.txt"), Corpus.bundledText().substring(0, 20_000));
  }

  static long step(Path checkpoint) throws IOException {
    Matcher m = Pattern.compile("\"step\" : (\\d+)").matcher(Files.readString(checkpoint.resolve("state.json")));
    assertTrue(m.find());
    return Long.parseLong(m.group(1));
  }

  static void assertOneLine(Cli c) {
    assertEquals(1, c.code(), c.toString());
    assertEquals(1, c.err().strip().lines().count(), c.toString());
    assertFalse(c.err().contains("\tat "), c.toString());
  }

  /**
   * With lr at the top of the float32 range and a large weight decay, the AdamW step lr * (m/(sqrt v + eps)
   * + wd w) overflows: the update of step 3 makes weights infinite while step 3's own loss (computed
   * before the update) is finite. Step 3 is a checkpoint step: the checkpoint of step 2 must stay.
   */
  @Test
  void anUpdateThatMakesTheWeightsInfiniteOnACheckpointStepKeepsThePreviousCheckpoint() throws Exception {
    Cli good = Cli.run(work, train("--out", "div", "--steps", "2"));
    assertEquals(0, good.code(), good.toString());
    Cli bad = Cli.run(work, train("--out", "div", "--resume", "--steps", "6", "--set", "lr=3e38", "--set",
        "min-lr=3e38", "--set", "warmup=0", "--set", "weight-decay=10"));
    assertOneLine(bad);
    Path last = work.resolve("div/checkpoints/last");
    assertTrue(bad.err().contains("training diverged at step 3: its update made parameters or optimiser moments"
        + " non-finite"), bad.err());
    assertTrue(bad.err().contains("is intact: 'last' at step 2 (" + last + ")"), bad.err());
    assertEquals(2, step(last), "the checkpoint of step 2 was not replaced");
    Cli eval = Cli.run(work, "eval", "--run", "div");
    assertEquals(0, eval.code(), eval.toString());
    assertFalse(eval.out().contains("NaN") || eval.out().contains("Infinity"), eval.out());

    Cli fresh = Cli.run(work, train("--out", "div0", "--steps", "4", "--set", "lr=3e38", "--set", "min-lr=3e38",
        "--set", "warmup=0", "--set", "weight-decay=10"));
    assertOneLine(fresh);
    assertTrue(fresh.err().contains("training diverged at step 1") && fresh.err().contains("no checkpoint was written"
        + " before that, so there is nothing to resume"), fresh.err());
    assertFalse(Files.exists(work.resolve("div0/checkpoints/last")));
  }

  @Test
  void aSecondTrainOnALockedRunDirectoryIsRefusedNamingTheHolder() throws Exception {
    Path run = work.resolve("locked");
    try (RunLock held = RunLock.acquire(run, "leviathan train --out locked", m -> {})) {
      Cli second = Cli.run(work, train("--out", "locked", "--steps", "2"));
      assertOneLine(second);
      assertTrue(second.err().contains("is in use by process " + ProcessHandle.current().pid())
          && second.err().contains("leviathan train --out locked"), second.err());
    }
    try (Stream<Path> s = Files.list(run)) {
      assertEquals(List.of(RunLock.FILE), s.map(p -> p.getFileName().toString()).toList(), "nothing else written");
    }
    Cli after = Cli.run(work, train("--out", "locked", "--steps", "2"));
    assertEquals(0, after.code(), "the lock is gone with its holder\n" + after);
  }

  @Test
  void twoTrainsAtOnceOnOneOutOneIsRefused() throws Exception {
    Cli[] first = new Cli[1];
    Thread t = new Thread(() -> first[0] = Cli.run(work, train("--out", "twice", "--steps", "300", "--set", "checkpoint-interval=100")));
    t.start();
    Path lock = work.resolve("twice").resolve(RunLock.FILE);
    for (int i = 0; i < 600 && !(Files.exists(lock) && Files.size(lock) > 0); i++) {
      Thread.sleep(50);
    }
    Cli second = Cli.run(work, train("--out", "twice", "--steps", "300", "--set", "checkpoint-interval=100"));
    boolean firstStillRunning = t.isAlive();
    t.join();
    assertEquals(0, first[0].code(), first[0].toString());
    assertOneLine(second);
    if (firstStillRunning) {
      assertTrue(second.err().contains("is in use by process"), second.err());
    }
    assertEquals(300, step(work.resolve("twice/checkpoints/last")));
  }

  /**
   * What a train killed while writing its very first checkpoint leaves: config and metrics, a half-written
   * {@code checkpoints/last.tmp/} and the lock file of a process that no longer exists.
   */
  static Path killedDuringFirstCheckpoint(String name) throws Exception {
    Cli c = Cli.run(work, train("--out", name, "--steps", "2", "--set", "checkpoint-interval=100"));
    assertEquals(0, c.code(), c.toString());
    Path cps = work.resolve(name).resolve("checkpoints");
    Path tmp = cps.resolve("last.tmp");
    Files.createDirectories(tmp);
    byte[] data = Files.readAllBytes(cps.resolve("last/variables.data-00000-of-00001"));
    Files.write(tmp.resolve("variables.data-00000-of-00001"), java.util.Arrays.copyOf(data, data.length / 2));
    for (String n : List.of("last", "best")) {
      try (Stream<Path> s = Files.walk(cps.resolve(n))) {
        for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
    Process dead = new ProcessBuilder("true").start();
    dead.waitFor();
    Files.writeString(work.resolve(name).resolve(RunLock.FILE), dead.pid() + " " + hostName()
        + " 2026-12-01T00:00:00Z leviathan train --out " + name + "\n");
    return cps;
  }

  static String hostName() throws IOException {
    return java.net.InetAddress.getLocalHost().getHostName();
  }

  @Test
  void aKillDuringTheFirstCheckpointWriteLeavesARunThatResumeAndAFreshTrainAccept() throws Exception {
    Path cps = killedDuringFirstCheckpoint("k1");
    Cli resume = Cli.run(work, "train", "--resume", "--out", "k1", "--no-progress", "--steps", "3");
    assertEquals(0, resume.code(), resume.toString());
    assertTrue(resume.out().contains("note: taking over the lock of ") && resume.out().contains("is no longer running"),
        resume.out());
    assertTrue(resume.out().contains("has no complete checkpoint (its first one was never finished): starting it"
        + " again from step 0 with its config.yaml"), resume.out());
    assertEquals(3, step(cps.resolve("last")));
    assertFalse(Files.exists(cps.resolve("last.tmp")));

    Path cps2 = killedDuringFirstCheckpoint("k2");
    Cli fresh = Cli.run(work, train("--out", "k2", "--steps", "3"));
    assertEquals(0, fresh.code(), fresh.toString());
    assertTrue(fresh.out().contains("starting it afresh"), fresh.out());
    assertEquals(3, step(cps2.resolve("last")));
    try (Stream<Path> s = Files.list(cps2)) {
      assertEquals(List.of("best", "last"), s.map(p -> p.getFileName().toString()).sorted().toList());
    }
  }

  @Test
  void resumeFromBestOrAPathSaysWhichCheckpointItRestores() throws Exception {
    Cli t = Cli.run(work, train("--out", "pick", "--steps", "3", "--set", "eval-interval=2"));
    assertEquals(0, t.code(), t.toString());
    Path best = work.resolve("pick/checkpoints/best");
    long bestStep = step(best);
    Path plain = Files.writeString(work.resolve("plain.txt"), "umask");
    var mode = Files.getPosixFilePermissions(plain);
    try (Stream<Path> s = Files.walk(work.resolve("pick"))) {
      for (Path f : s.filter(Files::isRegularFile).toList()) {
        assertEquals(mode, Files.getPosixFilePermissions(f), "run files get the user's umask: " + f);
      }
    }
    Cli fromBest = Cli.run(work, "train", "--resume", "--out", "pick", "--checkpoint", "best", "--steps", "4",
        "--no-progress");
    assertEquals(0, fromBest.code(), fromBest.toString());
    assertTrue(fromBest.out().contains("note: resuming from checkpoint 'best' (step " + bestStep + ", " + best + ")"),
        fromBest.out());
    assertTrue(fromBest.out().contains("steps " + bestStep + " -> 4"), fromBest.out());

    Path saved = work.resolve("saved-checkpoint");
    Files.createDirectories(saved);
    try (Stream<Path> s = Files.list(work.resolve("pick/checkpoints/last"))) {
      for (Path p : s.toList()) {
        Files.copy(p, saved.resolve(p.getFileName()));
      }
    }
    long savedStep = step(saved);
    Cli fromPath = Cli.run(work, "train", "--resume", "--out", "pick", "--checkpoint", "saved-checkpoint", "--steps",
        "5", "--no-progress");
    assertEquals(0, fromPath.code(), fromPath.toString());
    assertTrue(fromPath.out().contains("note: resuming from checkpoint 'saved-checkpoint' (step " + savedStep + ", "
        + saved + ")"), fromPath.out());
  }

  /** A plugin mixer whose create() fails a Java assertion: one line naming its class and jar. */
  @Test
  void anAssertionErrorFromAPluginIsOneLineNamingItsClassAndJar() throws Exception {
    Path src = work.resolve("plugin-src/fixture/bad/AssertingMixer.java");
    Files.createDirectories(src.getParent());
    Files.writeString(src, """
        package fixture.bad;
        import dev.leviathan.core.spi.*;
        import java.util.List;
        public final class AssertingMixer implements TokenMixerProvider {
          public String name() { return "asserting"; }
          public String description() { return "fails an assertion"; }
          public int spiVersion() { return LeviathanSpi.VERSION; }
          public boolean causal() { return true; }
          public List<OptionSpec> options() { return List.of(); }
          public TokenMixer create(LayerContext layer, MixerOptions options) {
            throw new AssertionError("width must be even");
          }
        }
        """);
    Path classes = work.resolve("plugin-classes");
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertEquals(0, javac.run(null, null, null, "-classpath", System.getProperty("java.class.path"), "-d",
        classes.toString(), "--release", "17", "-proc:none", src.toString()));
    Path jar = work.resolve("plugins/asserting.jar");
    Files.createDirectories(jar.getParent());
    try (OutputStream os = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(os, new Manifest())) {
      j.putNextEntry(new JarEntry("META-INF/services/dev.leviathan.core.spi.TokenMixerProvider"));
      j.write("fixture.bad.AssertingMixer\n".getBytes(StandardCharsets.UTF_8));
      j.putNextEntry(new JarEntry("fixture/bad/AssertingMixer.class"));
      j.write(Files.readAllBytes(classes.resolve("fixture/bad/AssertingMixer.class")));
    }
    Cli c = Cli.run(work, train("--out", "asserting", "--steps", "2", "--mixer", "asserting", "--plugins", "plugins"));
    assertOneLine(c);
    assertTrue(c.err().contains("width must be even") && c.err().contains("asserting.jar"), c.err());
    assertFalse(Files.exists(work.resolve("asserting")), "a failed start leaves no run directory");
    Cli debug = Cli.run(work, train("--out", "asserting", "--steps", "2", "--mixer", "asserting", "--plugins",
        "plugins", "--debug"));
    assertTrue(debug.err().contains("fixture.bad.AssertingMixer.create(AssertingMixer.java"), "--debug adds the trace: " + debug);
  }

  @Test
  void javaErrorsAtTheTopBecomeOneLine() {
    for (Throwable t : List.of(new OutOfMemoryError("Java heap space"), new StackOverflowError(),
        new org.tensorflow.exceptions.TFResourceExhaustedException("OOM when allocating tensor with shape[1000000]"),
        new NegativeArraySizeException("-2147483648"))) {
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      int code = Main.fail(t, new PrintStream(err, true, StandardCharsets.UTF_8), false);
      String line = err.toString(StandardCharsets.UTF_8);
      assertEquals(Main.EXIT_ERROR, code);
      assertEquals(1, line.strip().lines().count(), line);
      assertTrue(line.startsWith("error: "), line);
    }
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    Main.fail(new OutOfMemoryError("Java heap space"), new PrintStream(err, true, StandardCharsets.UTF_8), false);
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("out of memory (Java heap space)")
        && err.toString(StandardCharsets.UTF_8).contains("lower batch, context, width or layers"), err.toString());
  }
}
