package dev.leviathan.core.plugin;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
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
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

/**
 * Builds real plugin jars during a test: compiles Java sources held in strings against the test class
 * path with the system compiler, and writes jars with chosen classes, services files and raw entries.
 */
final class PluginJars {
  private PluginJars() {}

  /** Compiles {@code sources} (fully qualified class name to source text) into {@code out}. */
  static void compile(Map<String, String> sources, Path out) throws IOException {
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertTrue(javac != null, "the tests need a JDK (javax.tools compiler), not a JRE");
    Files.createDirectories(out);
    List<JavaFileObject> units = new ArrayList<>();
    sources.forEach((name, text) -> units.add(new Source(name, text)));
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
      List<String> options = List.of(
          "-classpath", System.getProperty("java.class.path"),
          "-d", out.toString(),
          "--release", "17",
          "-proc:none",
          "-Xlint:none");
      boolean ok = javac.getTask(null, files, diagnostics, options, null, units).call();
      assertTrue(ok, () -> "fixture sources do not compile:\n" + diagnostics.getDiagnostics().stream()
          .map(Object::toString).collect(Collectors.joining("\n")));
    }
  }

  /** A jar to be written: entries in insertion order, after the manifest. */
  static final class Jar {
    private final Map<String, byte[]> entries = new LinkedHashMap<>();
    private final Map<String, List<String>> services = new LinkedHashMap<>();

    /** Adds every class file of {@code packageName} (not its sub-packages) from a compiler output folder. */
    Jar classes(Path classesDir, String packageName) throws IOException {
      Path dir = classesDir.resolve(packageName.replace('.', '/'));
      try (Stream<Path> s = Files.list(dir)) {
        for (Path p : s.filter(f -> f.toString().endsWith(".class")).sorted().toList()) {
          entries.put(classesDir.relativize(p).toString().replace('\\', '/'), Files.readAllBytes(p));
        }
      }
      return this;
    }

    /** Lists {@code className} in {@code META-INF/services/<service>}. */
    Jar service(Class<?> service, String className) {
      services.computeIfAbsent(service.getName(), k -> new ArrayList<>()).add(className);
      return this;
    }

    /** Adds a raw entry. */
    Jar entry(String name, byte[] content) {
      entries.put(name, content);
      return this;
    }

    Path write(Path file) throws IOException {
      Files.createDirectories(file.getParent());
      Manifest manifest = new Manifest();
      manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
      try (OutputStream os = Files.newOutputStream(file); JarOutputStream jar = new JarOutputStream(os, manifest)) {
        for (Map.Entry<String, List<String>> e : services.entrySet()) {
          put(jar, "META-INF/services/" + e.getKey(),
              (String.join("\n", e.getValue()) + "\n").getBytes(StandardCharsets.UTF_8));
        }
        for (Map.Entry<String, byte[]> e : entries.entrySet()) {
          put(jar, e.getKey(), e.getValue());
        }
      }
      return file;
    }

    private static void put(JarOutputStream jar, String name, byte[] content) throws IOException {
      jar.putNextEntry(new JarEntry(name));
      jar.write(content);
      jar.closeEntry();
    }
  }

  private static final class Source extends SimpleJavaFileObject {
    private final String text;

    Source(String className, String text) {
      super(URI.create("string:///" + className.replace('.', '/') + Kind.SOURCE.extension), Kind.SOURCE);
      this.text = text;
    }

    @Override
    public CharSequence getCharContent(boolean ignoreEncodingErrors) {
      return text;
    }
  }
}
