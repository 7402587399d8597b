package dev.leviathan.app;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

/** Plugin jars made during a test from one provider class held in a string, compiled against the app's class path. */
final class PluginFixtures {
  private PluginFixtures() {}

  /**
   * Compiles {@code source} (the class {@code className}) and writes {@code jar} holding it and a services
   * file that lists it for {@code service}.
   */
  static Path jar(Path jar, Class<?> service, String className, String source) throws IOException {
    Path classes = Files.createTempDirectory(jar.getParent().getParent(), "classes");
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertTrue(javac != null, "the tests need a JDK (javax.tools compiler)");
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    JavaFileObject unit = new SimpleJavaFileObject(
        URI.create("string:///" + className.replace('.', '/') + JavaFileObject.Kind.SOURCE.extension),
        JavaFileObject.Kind.SOURCE) {
      @Override
      public CharSequence getCharContent(boolean ignoreEncodingErrors) {
        return source;
      }
    };
    try (StandardJavaFileManager fm = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
      boolean ok = javac.getTask(null, fm, diagnostics,
          List.of("-classpath", System.getProperty("java.class.path"), "-d", classes.toString(), "--release", "17",
              "-proc:none", "-Xlint:none"),
          null, List.of(unit)).call();
      assertTrue(ok, () -> diagnostics.getDiagnostics().stream().map(Object::toString).collect(Collectors.joining("\n")));
    }
    Manifest mf = new Manifest();
    mf.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
    List<Path> files = new ArrayList<>();
    try (Stream<Path> s = Files.walk(classes)) {
      s.filter(Files::isRegularFile).sorted().forEach(files::add);
    }
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), mf)) {
      out.putNextEntry(new JarEntry("META-INF/services/" + service.getName()));
      out.write((className + "\n").getBytes(StandardCharsets.UTF_8));
      out.closeEntry();
      for (Path f : files) {
        out.putNextEntry(new JarEntry(classes.relativize(f).toString().replace('\\', '/')));
        Files.copy(f, (OutputStream) out);
        out.closeEntry();
      }
    }
    return jar;
  }

  /** A token mixer provider named {@code name} with the given options() and create() bodies and extra members. */
  static String token(String className, String name, String extra, String options, String create) {
    int dot = className.lastIndexOf('.');
    return """
        package %s;
        import dev.leviathan.core.spi.*;
        import java.util.List;
        public final class %s implements TokenMixerProvider {
          %s
          @Override public String name() { return "%s"; }
          @Override public String description() { return "misbehaves on purpose"; }
          @Override public int spiVersion() { return LeviathanSpi.VERSION; }
          @Override public boolean causal() { return true; }
          @Override public List<OptionSpec> options() { %s }
          @Override public TokenMixer create(LayerContext layer, MixerOptions options) { %s }
        }
        """.formatted(className.substring(0, dot), className.substring(dot + 1), extra, name, options, create);
  }
}
