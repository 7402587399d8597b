package dev.leviathan.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.trainer.Corpus;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Builds the example plugin (examples/mixer-plugin-example) into a jar from its sources, drops it into a
 * plugins folder and trains with it through the CLI entry point, as a third party would.
 */
class PluginCliTest {
  static final Path EXAMPLE = Path.of("..", "examples", "mixer-plugin-example");

  @TempDir Path work;

  /** Compiles the example's main sources against the app's class path and jars them with its resources. */
  static Path buildExampleJar(Path dir) throws IOException {
    Path classes = dir.resolve("classes");
    Files.createDirectories(classes);
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertTrue(javac != null, "the tests need a JDK (javax.tools compiler)");
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    List<Path> sources;
    try (Stream<Path> s = Files.walk(EXAMPLE.resolve("src/main/java"))) {
      sources = s.filter(p -> p.toString().endsWith(".java")).toList();
    }
    try (StandardJavaFileManager fm = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
      boolean ok = javac.getTask(null, fm, diagnostics,
          List.of("-classpath", System.getProperty("java.class.path"), "-d", classes.toString(), "--release", "17",
              "-proc:none"),
          null, fm.getJavaFileObjectsFromPaths(sources)).call();
      assertTrue(ok, () -> diagnostics.getDiagnostics().stream().map(Object::toString).collect(Collectors.joining("\n")));
    }
    Path jar = dir.resolve("plugins").resolve("causal-conv-example.jar");
    Files.createDirectories(jar.getParent());
    Manifest mf = new Manifest();
    mf.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
    mf.getMainAttributes().put(Attributes.Name.IMPLEMENTATION_VERSION, "1.0-test");
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), mf)) {
      for (Path root : List.of(classes, EXAMPLE.resolve("src/main/resources"))) {
        List<Path> files;
        try (Stream<Path> s = Files.walk(root)) {
          files = s.filter(Files::isRegularFile).toList();
        }
        for (Path f : files) {
          out.putNextEntry(new JarEntry(root.relativize(f).toString().replace('\\', '/')));
          Files.copy(f, (OutputStream) out);
          out.closeEntry();
        }
      }
    }
    return jar;
  }

  @Test
  void trainsWithTheExamplePluginAndRecordsIt() throws Exception {
    Path jar = buildExampleJar(work);
    Files.writeString(work.resolve("slice.txt"), Corpus.bundledText().substring(0, 30_000));
    List<String> args = new ArrayList<>(List.of("train", "--plugins", "plugins", "--mixer", "causal-conv",
        "--data", "slice.txt", "--out", "run", "--steps", "60"));
    args.addAll(List.of(TrainCliTest.TINY));
    Cli t = Cli.run(work, args.toArray(String[]::new));
    assertEquals(0, t.code(), t.toString());
    List<String> rows = Files.readAllLines(work.resolve("run/metrics.csv"));
    double first = Double.parseDouble(rows.get(1).split(",")[2]);
    double last = Double.parseDouble(rows.get(rows.size() - 1).split(",")[2]);
    assertTrue(last < first - 0.5, "val loss fell from " + first + " to " + last);
    String state = Files.readString(work.resolve("run/checkpoints/last/state.json"));
    assertTrue(state.contains("\"mixer\" : \"causal-conv\"") && state.contains(jar.getFileName().toString())
        && state.contains("1.0-test"), state);
    assertTrue(Files.readString(work.resolve("run/run.json")).contains(jar.getFileName().toString()));

    Cli listed = Cli.run(work, Map.of("LEVIATHAN_PLUGINS", work.resolve("plugins").toString()), "mixers");
    assertTrue(listed.out().contains("causal-conv") && listed.out().contains(jar.toString()), listed.out());

    Files.delete(jar);
    Cli missing = Cli.run(work, "sample", "--run", "run");
    assertEquals(1, missing.code(), missing.toString());
    assertTrue(missing.err().startsWith("error: the checkpoint needs the token mixer 'causal-conv' (version 1.0-test,"
        + " from " + jar + "), which is not installed; put its plugin jar into plugins/"), missing.err());
  }

  @Test
  void aBrokenPluginIsReportedAndTheBuiltInsStillWork() throws Exception {
    Path plugins = work.resolve("plugins");
    Files.createDirectories(plugins);
    Files.writeString(plugins.resolve("notes.jar"), "not a jar");
    Cli m = Cli.run(work, "mixers");
    assertEquals(0, m.code(), m.toString());
    assertTrue(m.err().startsWith("warning: plugin " + plugins.resolve("notes.jar")), m.err());
    assertTrue(m.out().contains("attention"), m.out());
    Cli t = Cli.run(work, "train", "--mixer", "causal-conv", "--print-config");
    assertEquals(0, t.code(), "print-config does not need the mixer");
    Cli u = Cli.run(work, "train", "--mixer", "causal-conv", "--steps", "1");
    assertEquals(1, u.code(), u.toString());
    assertTrue(u.err().contains("error: A token mixer named 'causal-conv' does not exist."), u.err());
  }
}
