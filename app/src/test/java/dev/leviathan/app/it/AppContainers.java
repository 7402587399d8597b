package dev.leviathan.app.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.command.CreateContainerCmd;
import com.github.dockerjava.api.exception.NotFoundException;
import com.github.dockerjava.api.model.AccessMode;
import com.github.dockerjava.api.model.Bind;
import com.github.dockerjava.api.model.Volume;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Assumptions;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.output.OutputFrame;
import org.testcontainers.containers.startupcheck.StartupCheckStrategy;
import org.testcontainers.images.builder.ImageFromDockerfile;

/**
 * The app image and one-shot runs of the CLI in it, for the container tests.
 *
 * <p>The image is built from {@code app/src/main/docker/Dockerfile} with the packaged app
 * ({@code app/target/leviathan.jar} and {@code lib/}) as build context, on the base image named by
 * {@code -Dleviathan.base.image} or {@code LEVIATHAN_BASE_IMAGE} (GPU tests: {@code leviathan.gpu.base.image},
 * {@code LEVIATHAN_GPU_BASE_IMAGE}). Where no registry is reachable, {@code scripts/docker-local-base.sh}
 * builds a base image locally.
 */
final class AppContainers {
  /** Default base for the CPU image: a public JRE 17 image. */
  static final String DEFAULT_BASE_IMAGE = "eclipse-temurin:17-jre";
  /** Default base for the GPU image: CUDA 12 with cuDNN 9 (what TensorFlow Java 1.1.0's GPU natives load). */
  static final String DEFAULT_GPU_BASE_IMAGE = "nvidia/cuda:12.5.1-cudnn-runtime-ubuntu22.04";
  /** Upper bound for one CLI run in a container (JVM and TensorFlow start-up included). */
  static final Duration RUN_TIMEOUT = Duration.ofMinutes(10);

  private AppContainers() {}

  /** The output and exit code of one CLI run. */
  record Run(long exitCode, String stdout, String stderr) {
    @Override
    public String toString() {
      return "exit " + exitCode + "\n--- stdout\n" + stdout + "\n--- stderr\n" + stderr;
    }
  }

  static String baseImage() {
    return setting("leviathan.base.image", "LEVIATHAN_BASE_IMAGE", DEFAULT_BASE_IMAGE);
  }

  static String gpuBaseImage() {
    return setting("leviathan.gpu.base.image", "LEVIATHAN_GPU_BASE_IMAGE", DEFAULT_GPU_BASE_IMAGE);
  }

  private static String setting(String property, String variable, String fallback) {
    String p = System.getProperty(property);
    if (p != null && !p.isBlank()) {
      return p.strip();
    }
    String v = System.getenv(variable);
    return v != null && !v.isBlank() ? v.strip() : fallback;
  }

  /** {@code app/target}: the packaged jar and its libraries. */
  static Path appDir() {
    Path dir = Path.of(System.getProperty("leviathan.app.dir", "target")).toAbsolutePath().normalize();
    assertTrue(Files.isRegularFile(dir.resolve("leviathan.jar")) && Files.isDirectory(dir.resolve("lib")),
        "the packaged app is missing from " + dir + " (the container tests run after `mvn package`)");
    return dir;
  }

  /** The project root (the Dockerfile and the example plugin live there). */
  static Path projectDir() {
    Path dir = Path.of(System.getProperty("leviathan.project.dir", "..")).toAbsolutePath().normalize();
    assertTrue(Files.isRegularFile(dir.resolve("app/src/main/docker/Dockerfile")), "no project root at " + dir);
    return dir;
  }

  /** The class path in the app jar's manifest ({@code lib/...jar}): what the app runs with. */
  static List<String> classPath() throws IOException {
    try (JarFile jar = new JarFile(appDir().resolve("leviathan.jar").toFile())) {
      String classPath = jar.getManifest().getMainAttributes().getValue(Attributes.Name.CLASS_PATH);
      assertTrue(classPath != null && !classPath.isBlank(), "leviathan.jar has no Class-Path in its manifest");
      return List.of(classPath.trim().split("\\s+"));
    }
  }

  /**
   * The TensorFlow native jars the packaged app runs with ({@code ...-linux-x86_64.jar} or {@code ...-gpu.jar});
   * {@code lib/} itself may still hold jars of an earlier build.
   */
  static List<String> tensorflowNatives() throws IOException {
    return classPath().stream().map(e -> e.substring(e.lastIndexOf('/') + 1))
        .filter(n -> n.startsWith("tensorflow-core-native-") && n.contains("-linux-")).sorted().toList();
  }

  /**
   * The app image on {@code baseImage}, built on first use; {@link #remove} deletes it again. The build context
   * holds the Dockerfile, the app jar and exactly the libraries its manifest names.
   */
  static ImageFromDockerfile image(String baseImage) throws IOException {
    Path app = appDir();
    String tag = "leviathan-it-" + baseImage.replaceAll("[^a-zA-Z0-9]+", "-").toLowerCase(Locale.ROOT);
    ImageFromDockerfile image = new ImageFromDockerfile("localhost/" + tag + ":latest", false)
        .withFileFromPath("Dockerfile", projectDir().resolve("app/src/main/docker/Dockerfile"))
        .withFileFromPath("leviathan.jar", app.resolve("leviathan.jar"))
        .withBuildArg("BASE_IMAGE", baseImage);
    for (String entry : classPath()) {
      image.withFileFromPath(entry, app.resolve(entry));
    }
    return image;
  }

  /** Builds {@code image} now, turning a failure into a message that says how to provide a base image. */
  static String build(ImageFromDockerfile image, String baseImage) {
    long t0 = System.nanoTime();
    try {
      String name = image.get();
      System.out.printf(Locale.ROOT, "[container] built %s on %s in %.1f s%n", name, baseImage, seconds(t0));
      return name;
    } catch (RuntimeException e) {
      throw new AssertionError("cannot build the app image on base image " + baseImage + ": " + e.getMessage()
          + "\nWhere no container registry is reachable, build a local base image with"
          + " scripts/docker-local-base.sh and pass -Dleviathan.base.image=NAME (or LEVIATHAN_BASE_IMAGE=NAME)", e);
    }
  }

  /** Deletes an image built by {@link #build} (its base image stays, so the next build reuses its layers). */
  static void remove(String image) {
    if (image != null) {
      try {
        DockerClientFactory.instance().client().removeImageCmd(image).withForce(true).exec();
      } catch (NotFoundException e) {
        // already gone
      }
    }
  }

  /** Skips the calling test with {@code reason} (printed too: the build log shows only the count of skipped tests). */
  static void assume(boolean condition, String reason) {
    if (!condition) {
      System.out.println("[container] skipped: " + reason);
    }
    Assumptions.assumeTrue(condition, reason);
  }

  /**
   * Runs the CLI with {@code args} in a fresh container of {@code image} on {@code network}, with
   * {@code plugins} mounted read-only at {@code /plugins} and {@code runs} read-write at {@code /runs},
   * waits for it to exit and returns its exit code and output. The container runs as the owner of
   * {@code runs}, so the files it writes there belong to the user running the tests.
   */
  static Run run(String image, Network network, Path plugins, Path runs, Consumer<CreateContainerCmd> modifier,
      String... args) throws IOException {
    String user = Files.getAttribute(runs, "unix:uid") + ":" + Files.getAttribute(runs, "unix:gid");
    // Bind mounts go straight into the create command: Testcontainers' own file-system binds first check
    // mounting with a helper image that would have to be pulled.
    List<Bind> binds = List.of(new Bind(plugins.toString(), new Volume("/plugins"), AccessMode.ro),
        new Bind(runs.toString(), new Volume("/runs"), AccessMode.rw));
    try (GenericContainer<?> c = new GenericContainer<>(image)) {
      c.withNetwork(network)
          .withCreateContainerCmdModifier(cmd -> {
            cmd.withUser(user);
            cmd.getHostConfig().withBinds(binds);
            modifier.accept(cmd);
          })
          .withStartupCheckStrategy(new StartedStrategy())
          .withCommand(args);
      long t0 = System.nanoTime();
      c.start();
      DockerClient docker = DockerClientFactory.instance().client();
      Integer code = docker.waitContainerCmd(c.getContainerId()).start()
          .awaitStatusCode(RUN_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      System.out.printf(Locale.ROOT, "[container] %s: exit %d in %.1f s%n", args[0], code, seconds(t0));
      return new Run(code, c.getLogs(OutputFrame.OutputType.STDOUT), c.getLogs(OutputFrame.OutputType.STDERR));
    }
  }

  private static double seconds(long startNanos) {
    return (System.nanoTime() - startNanos) / 1e9;
  }

  /** Accepts a container as soon as it was started: a CLI run may exit at once, and its exit code is the result. */
  private static final class StartedStrategy extends StartupCheckStrategy {
    @Override
    public StartupStatus checkStartupState(DockerClient docker, String containerId) {
      return StartupStatus.SUCCESSFUL;
    }
  }

  /**
   * Builds the example plugin ({@code examples/mixer-plugin-example}: the {@code causal-conv} token mixer) into
   * {@code dir/causal-conv-mixer.jar}: its sources are compiled against the test class path (Leviathan's core
   * and TensorFlow, as the app provides them) and packed with its resources (the services file).
   */
  static Path buildExamplePlugin(Path dir) throws IOException {
    Path example = projectDir().resolve("examples/mixer-plugin-example/src/main");
    Path classes = Files.createTempDirectory("causal-conv-classes");
    List<Path> sources;
    try (Stream<Path> s = Files.walk(example.resolve("java"))) {
      sources = s.filter(p -> p.toString().endsWith(".java")).sorted().toList();
    }
    assertTrue(!sources.isEmpty(), "no plugin sources under " + example);
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertTrue(javac != null, "the container tests need a JDK (javax.tools compiler), not a JRE");
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
      List<String> options = List.of("-classpath", System.getProperty("java.class.path"), "-d", classes.toString(),
          "--release", "17", "-proc:none", "-Xlint:none");
      boolean ok = javac.getTask(null, files, diagnostics, options, null, files.getJavaFileObjectsFromPaths(sources))
          .call();
      assertTrue(ok, () -> "the example plugin does not compile:\n" + diagnostics.getDiagnostics().stream()
          .map(Object::toString).collect(Collectors.joining("\n")));
    }
    Files.createDirectories(dir);
    Path jar = dir.resolve("causal-conv-mixer.jar");
    Manifest manifest = new Manifest();
    manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
    manifest.getMainAttributes().put(Attributes.Name.IMPLEMENTATION_VERSION, "it");
    try (OutputStream os = Files.newOutputStream(jar); JarOutputStream out = new JarOutputStream(os, manifest)) {
      for (Path root : List.of(classes, example.resolve("resources"))) {
        if (Files.isDirectory(root)) {
          add(out, root);
        }
      }
    }
    return jar;
  }

  private static void add(JarOutputStream out, Path root) throws IOException {
    List<Path> entries = new ArrayList<>();
    try (Stream<Path> s = Files.walk(root)) {
      s.filter(Files::isRegularFile).sorted().forEach(entries::add);
    }
    for (Path p : entries) {
      out.putNextEntry(new JarEntry(root.relativize(p).toString().replace('\\', '/')));
      out.write(Files.readAllBytes(p));
      out.closeEntry();
    }
  }
}
