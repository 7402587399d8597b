package dev.leviathan.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.trainer.Corpus;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every bad input through the CLI entry point: a non-zero exit, at most two lines on stderr, no stack
 * trace, the offending key, file, flag or mixer named, and no file created or removed anywhere in the
 * working directory.
 */
class BadInputTableTest {
  @org.junit.jupiter.api.io.TempDir static Path work;

  static final String[] TINY = {"--no-progress", "--set", "context=16", "--set", "width=16", "--set", "layers=1",
      "--set", "batch=4", "--set", "eval-iters=1", "--set", "eval-interval=5", "--set", "sample-tokens=0"};

  @BeforeAll
  static void fixtures() throws Exception {
    Files.writeString(work.resolve("slice.txt"), Corpus.bundledText().substring(0, 20_000));
    Files.writeString(work.resolve("empty.txt"), "");
    Files.writeString(work.resolve("short.txt"), "to be or not to be");
    Files.write(work.resolve("binary.bin"), new byte[] {(byte) 0xff, (byte) 0xfe, 0, 1, 2, (byte) 0xc3, 0x28});
    Files.write(work.resolve("bin.yaml"), new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0});
    Files.writeString(work.resolve("list.yaml"), "- steps\n- 3\n");
    Files.writeString(work.resolve("broken.yaml"), "steps: [1,\n");
    Files.writeString(work.resolve("afile"), "not a folder");
    Files.createDirectories(work.resolve("adir"));
    Cli t = Cli.run(work, tiny("train", "--data", "slice.txt", "--out", "r", "--steps", "5"));
    assertEquals(0, t.code(), t.toString());
    copy(work.resolve("r"), work.resolve("rc"));
    Path data = work.resolve("rc/checkpoints/last/variables.data-00000-of-00001");
    try (RandomAccessFile f = new RandomAccessFile(data.toFile(), "rw")) {
      f.seek(f.length() / 2);
      int b = f.read();
      f.seek(f.length() / 2);
      f.write(b ^ 0x5a);
    }
  }

  /** The command, the tiny settings, then the case's own arguments (a later --set wins). */
  static String[] tiny(String command, String... args) {
    String[] all = new String[1 + TINY.length + args.length];
    all[0] = command;
    System.arraycopy(TINY, 0, all, 1, TINY.length);
    System.arraycopy(args, 0, all, 1 + TINY.length, args.length);
    return all;
  }

  private static void copy(Path from, Path to) throws IOException {
    try (Stream<Path> s = Files.walk(from)) {
      for (Path p : s.toList()) {
        Path q = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(q);
        } else {
          Files.copy(p, q);
        }
      }
    }
  }

  /** One case: what the user typed, and what the one-line error must name. */
  static Arguments c(String name, String[] args, String... mustContain) {
    return Arguments.of(Named.of(name, args), List.of(mustContain));
  }

  static String[] a(String... args) {
    return args;
  }

  static Stream<Arguments> cases() {
    return Stream.of(
        // ---- config values (keys named) ----
        c("steps zero", tiny("train", "--set", "steps=0"), "steps must be >= 1"),
        c("misspelt key", tiny("train", "--set", "widht=3"), "'widht'"),
        c("text for a number", tiny("train", "--set", "lr=fast"), "'lr'", "fast"),
        c("lr beyond float32", tiny("train", "--set", "lr=1e39"), "lr must be a finite number"),
        c("lr infinite", tiny("train", "--set", "lr=1e400"), "lr must be a finite number"),
        c("lr NaN", tiny("train", "--set", "lr=NaN"), "lr must be"),
        c("min-lr NaN", tiny("train", "--set", "min-lr=NaN"), "min-lr must be"),
        c("eps infinite", tiny("train", "--set", "eps=Infinity"), "eps must be"),
        c("eps below float32", tiny("train", "--set", "eps=1e-60"), "eps must be"),
        c("grad-clip infinite", tiny("train", "--set", "grad-clip=1e400"), "grad-clip must be"),
        c("weight-decay infinite", tiny("train", "--set", "weight-decay=Infinity"), "weight-decay must be"),
        c("weight-decay negative", tiny("train", "--set", "weight-decay=-1"), "weight-decay must be"),
        c("beta1 one", tiny("train", "--set", "beta1=1"), "beta1 must be in [0, 1)"),
        c("beta2 negative", tiny("train", "--set", "beta2=-0.5"), "beta2 must be in [0, 1)"),
        c("beta2 rounds to one", tiny("train", "--set", "beta2=0.999999999"), "beta2 must be"),
        c("negative layers", tiny("train", "--set", "layers=-2"), "layers must be >= 1"),
        c("dropout one", tiny("train", "--set", "dropout=1"), "dropout"),
        c("val-fraction zero", tiny("train", "--set", "val-fraction=0"), "val-fraction"),
        c("unknown tokenizer", tiny("train", "--set", "tokenizer=word"), "tokenizer", "word"),
        c("sample-tokens huge", tiny("train", "--set", "sample-tokens=2000000000"), "sample-tokens"),
        c("heads not dividing width", tiny("train", "--set", "token-mixer-options.heads=3"), "heads"),
        c("unknown mixer", tiny("train", "--mixer", "transformer-xl"), "transformer-xl"),
        c("width too large for memory", tiny("train", "--data", "slice.txt", "--set", "width=131072", "--set",
            "layers=64"), "needs about", "width 131072", "layers 64"),
        c("context x batch too large for memory", tiny("train", "--set", "batch=100000",
            "--set", "context=8192"), "needs about", "batch 100000", "context 8192"),
        // ---- config files ----
        c("missing config", a("train", "--config", "missing.yaml"), "missing.yaml", "does not exist"),
        c("binary config", a("train", "--config", "bin.yaml"), "bin.yaml", "not a text file"),
        c("config is a folder", a("train", "--config", "adir"), "adir", "folder"),
        c("config is a list", a("train", "--config", "list.yaml"), "list.yaml", "key: value"),
        c("config is broken YAML", a("train", "--config", "broken.yaml"), "broken.yaml", "not valid YAML"),
        c("config is a device", a("train", "--config", "/dev/zero"), "/dev/zero", "not a regular file"),
        // ---- data ----
        c("missing data", tiny("train", "--data", "missing.txt"), "missing.txt", "does not exist"),
        c("empty data", tiny("train", "--data", "empty.txt"), "empty.txt", "empty"),
        c("short data", tiny("train", "--data", "short.txt", "--set", "context=64"), "short.txt", "too short"),
        c("data is a folder", tiny("train", "--data", "adir"), "adir", "folder"),
        c("binary data as text", tiny("train", "--data", "binary.bin"), "binary.bin", "not UTF-8"),
        c("data is a device", tiny("train", "--data", "/dev/zero"), "/dev/zero", "not a regular file"),
        // ---- run directories ----
        c("out is a file", tiny("train", "--data", "slice.txt", "--out", "afile"), "afile", "is a file"),
        c("out under a file", tiny("train", "--data", "slice.txt", "--out", "afile/run"), "afile", "is a file"),
        c("out not writable", tiny("train", "--data", "slice.txt", "--out", "/proc/leviathan-run"),
            "/proc/leviathan-run", "not writable"),
        c("out holds a run", tiny("train", "--data", "slice.txt", "--out", "r"), "already holds a run", "--resume"),
        c("resume where nothing is", a("train", "--resume", "--out", "nowhere"), "nowhere", "does not exist"),
        c("resume a folder that is no run", a("train", "--resume", "--out", "adir"), "adir", "not a run directory"),
        c("resume a file", a("train", "--resume", "--out", "afile"), "afile", "is a file"),
        c("checkpoint without resume", tiny("train", "--checkpoint", "best"), "--checkpoint", "--resume"),
        c("resume from a missing checkpoint folder", a("train", "--resume", "--out", "r", "--checkpoint", "nowhere"),
            "nowhere"),
        c("resume with another model", a("train", "--resume", "--out", "r", "--set", "width=32"), "width"),
        c("resume a corrupt checkpoint", a("train", "--resume", "--out", "rc"), "rc", "checksum", "best"),
        // ---- reading runs ----
        c("eval a corrupt checkpoint", a("eval", "--run", "rc"), "rc", "does not match its checksum"),
        c("eval a folder that is no run", a("eval", "--run", "adir"), "adir"),
        c("sample a missing run", a("sample", "--run", "nowhere"), "nowhere"),
        c("sample tokens near int max", a("sample", "--run", "r", "--tokens", "2147483647"), "--tokens"),
        c("sample tokens negative", a("sample", "--run", "r", "--tokens", "-1"), "--tokens"),
        c("sample temperature zero", a("sample", "--run", "r", "--temperature", "0"), "temperature"),
        c("sample unknown checkpoint", a("sample", "--run", "r", "--checkpoint", "middle"), "middle"),
        c("prompt outside the vocabulary", a("sample", "--run", "r", "--prompt", "日本"), "'日'"),
        // ---- command line ----
        c("unknown option", a("train", "--stepz", "3"), "--stepz"),
        c("steps not a number", a("train", "--steps", "many"), "--steps", "many"),
        c("unknown device", a("train", "--device", "tpu"), "--device", "tpu"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void refusedInOneLineNamingTheCauseAndLeavingNothingBehind(String[] args, List<String> mustContain)
      throws IOException {
    Set<String> before = files();
    Cli c = Cli.run(work, args);
    assertNotEquals(0, c.code(), c.toString());
    List<String> lines = c.err().strip().lines().toList();
    assertTrue(lines.size() >= 1 && lines.size() <= 2, "one or two lines on stderr: " + c);
    assertTrue(lines.get(lines.size() - 1).startsWith("error: "), c.toString());
    assertFalse(c.err().contains("\tat ") || c.err().contains("Exception:"), "no stack trace: " + c);
    for (String s : mustContain) {
      assertTrue(c.err().contains(s), "names '" + s + "': " + c);
    }
    assertEquals(before, files(), "no file created or removed: " + c);
  }

  private static Set<String> files() throws IOException {
    Set<String> out = new TreeSet<>();
    try (Stream<Path> s = Files.walk(work)) {
      s.forEach(p -> out.add(work.relativize(p) + (Files.isDirectory(p) ? "/" : " " + size(p))));
    }
    return out;
  }

  private static long size(Path p) {
    try {
      return Files.size(p);
    } catch (IOException e) {
      return -1;
    }
  }
}
