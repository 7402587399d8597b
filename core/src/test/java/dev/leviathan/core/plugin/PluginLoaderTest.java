package dev.leviathan.core.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.channel.MlpChannelMixer;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.registry.ProviderInfo;
import dev.leviathan.core.spi.ChannelMixerProvider;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerProvider;
import dev.leviathan.core.spi.TokenMixerProvider;
import dev.leviathan.core.testing.MixerHarness;
import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.commons.math3.util.FastMath;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Operand;

class PluginLoaderTest {
  @TempDir static Path fixtures;
  @TempDir Path plugins;

  /** Compiled plugin classes. */
  static Path classes;
  /** A second copy of {@code fixture.isolated.Shared}, as the host's class path would hold it. */
  static Path hostClasses;

  private final List<PluginLoadResult> results = new ArrayList<>();

  @BeforeAll
  static void compileFixtures() throws IOException {
    classes = fixtures.resolve("plugin-classes");
    Map<String, String> src = new LinkedHashMap<>();
    src.put("fixture.good.DoublingMixer", token("fixture.good", "DoublingMixer", "plugin-double",
        "\"doubles its input\"", "LeviathanSpi.VERSION", ""));
    src.put("fixture.good.ScaleChannel", channel("fixture.good", "ScaleChannel", "plugin-scale"));
    src.put("fixture.ghost.Present", token("fixture.ghost", "Present", "ghost-present",
        "\"listed after a missing class\"", "LeviathanSpi.VERSION", ""));
    src.put("fixture.boom.BoomMixer", token("fixture.boom", "BoomMixer", "boom",
        "\"never built\"", "LeviathanSpi.VERSION",
        "throw new IllegalStateException(\"boom: the mixer cannot start\");"));
    src.put("fixture.clash.MlpClash", channel("fixture.clash", "MlpClash", "mlp"));
    src.put("fixture.twin.FirstTwin", token("fixture.twin", "FirstTwin", "twin",
        "\"first\"", "LeviathanSpi.VERSION", ""));
    src.put("fixture.twin.SecondTwin", token("fixture.twin", "SecondTwin", "twin",
        "\"second\"", "LeviathanSpi.VERSION", ""));
    src.put("fixture.old.OldMixer", token("fixture.old", "OldMixer", "old-spi",
        "\"built for another SPI\"", Integer.toString(LeviathanSpi.VERSION + 1), ""));
    src.put("fixture.duo.Helper", """
        package fixture.duo;
        public final class Helper {
          public static String describe() { return "helper from the library jar"; }
        }
        """);
    src.put("fixture.duo.DuoMixer", token("fixture.duo", "DuoMixer", "duo",
        "Helper.describe()", "LeviathanSpi.VERSION", ""));
    src.put("fixture.isolated.Shared", shared("plugin"));
    src.put("fixture.isolated.IsolatedMixer", token("fixture.isolated", "IsolatedMixer", "isolated",
        "Shared.origin()", "LeviathanSpi.VERSION", ""));
    PluginJars.compile(src, classes);
    hostClasses = fixtures.resolve("host-classes");
    PluginJars.compile(Map.of("fixture.isolated.Shared", shared("host")), hostClasses);
  }

  private static String token(String pkg, String cls, String name, String description, String spi, String ctor) {
    return """
        package %s;
        import dev.leviathan.core.spi.*;
        import java.util.List;
        public final class %s implements TokenMixerProvider {
          public %s() { %s }
          @Override public String name() { return "%s"; }
          @Override public String description() { return %s; }
          @Override public int spiVersion() { return %s; }
          @Override public boolean causal() { return true; }
          @Override public List<OptionSpec> options() { return List.of(); }
          @Override public TokenMixer create(LayerContext layer, MixerOptions options) {
            return x -> layer.tf().math.mul(x, layer.tf().constant(2f));
          }
        }
        """.formatted(pkg, cls, cls, ctor, name, description, spi);
  }

  private static String channel(String pkg, String cls, String name) {
    return """
        package %s;
        import dev.leviathan.core.spi.*;
        import java.util.List;
        public final class %s implements ChannelMixerProvider {
          @Override public String name() { return "%s"; }
          @Override public String description() { return "scales its input"; }
          @Override public int spiVersion() { return LeviathanSpi.VERSION; }
          @Override public List<OptionSpec> options() { return List.of(); }
          @Override public ChannelMixer create(LayerContext layer, MixerOptions options) {
            return x -> layer.tf().math.mul(x, layer.tf().constant(3f));
          }
        }
        """.formatted(pkg, cls, name);
  }

  private static String shared(String origin) {
    return """
        package fixture.isolated;
        public final class Shared {
          public static String origin() { return "%s"; }
        }
        """.formatted(origin);
  }

  @AfterEach
  void closeLoaders() {
    results.forEach(PluginLoadResult::close);
  }

  private PluginLoadResult load(Path... dirs) {
    return load(PluginLoaderTest.class.getClassLoader(), dirs);
  }

  private PluginLoadResult load(ClassLoader host, Path... dirs) {
    PluginLoadResult r = new PluginLoader(host).load(List.of(dirs));
    results.add(r);
    for (String line : r.problemLines()) {
      assertFalse(line.contains("\n") || line.contains("\r"), "a problem must be one line: " + line);
    }
    return r;
  }

  private static Path goodJar(Path file) throws IOException {
    return new PluginJars.Jar()
        .classes(classes, "fixture.good")
        .service(TokenMixerProvider.class, "fixture.good.DoublingMixer")
        .service(ChannelMixerProvider.class, "fixture.good.ScaleChannel")
        .write(file);
  }

  private static String path(Path p) {
    return p.toAbsolutePath().normalize().toString();
  }

  /** The one problem of {@code r}, which must be about {@code file}. */
  private static PluginProblem onlyProblem(PluginLoadResult r, Path file) {
    assertEquals(1, r.problems().size(), () -> "problems: " + r.problemLines());
    PluginProblem p = r.problems().get(0);
    assertEquals(file.toAbsolutePath().normalize(), p.path());
    assertTrue(p.line().startsWith("plugin " + path(file) + ": "), p.line());
    return p;
  }

  /** The good plugin beside the faulty one and the built-in mixers are all there. */
  private static void assertTheRestLoaded(PluginLoadResult r, Path goodJar) {
    MixerRegistry reg = r.registry();
    assertEquals(path(goodJar), reg.tokenMixerInfo("plugin-double").source());
    assertEquals(path(goodJar), reg.channelMixerInfo("plugin-scale").source());
    assertEquals(PluginLoader.BUILT_IN, reg.channelMixerInfo("mlp").source());
    assertEquals(PluginLoader.BUILT_IN, reg.channelMixerInfo("swiglu").source());
  }

  @Test
  void goodPluginLoadsInItsOwnClassLoaderWithItsJarAsSource() throws IOException {
    Path jar = goodJar(plugins.resolve("good.jar"));
    PluginLoadResult r = load(plugins);
    assertEquals(List.of(), r.problemLines());
    ProviderInfo token = r.registry().tokenMixerInfo("plugin-double");
    ProviderInfo channel = r.registry().channelMixerInfo("plugin-scale");
    assertEquals(path(jar), token.source());
    assertEquals(path(jar), channel.source());
    ClassLoader loader = token.provider().getClass().getClassLoader();
    assertInstanceOf(PluginClassLoader.class, loader);
    assertSame(loader, channel.provider().getClass().getClassLoader());
    assertEquals(List.of(jar.toAbsolutePath().normalize()), ((PluginClassLoader) loader).jars());
    assertTrue(r.registry().channelMixer("mlp") instanceof MlpChannelMixer);

    assertEquals(1, r.plugins().size());
    LoadedPlugin plugin = r.plugins().get(0);
    assertEquals(jar.toAbsolutePath().normalize(), plugin.path());
    assertSame(loader, plugin.classLoader());
    assertEquals(List.of("plugin-double", "plugin-scale"),
        plugin.providers().stream().map(ProviderInfo::name).toList());

    // The mixer builds its graph with the host's TensorFlow classes and runs.
    try (MixerHarness h = MixerHarness.forwardOnly(token.provider(), Map.of(), 3, 2)) {
      float[][][] y = h.run(new float[][][] {{{1, 2, 3}, {-1, 0, 0.5f}}});
      MixerHarness.assertAllClose(new float[][][] {{{2, 4, 6}, {-2, 0, 1}}}, y, 0);
    }
  }

  @Test
  void folderOfJarsIsOnePluginWithOneClassLoader() throws IOException {
    Path folder = plugins.resolve("duo");
    Path library = new PluginJars.Jar()
        .entry("fixture/duo/Helper.class", Files.readAllBytes(classes.resolve("fixture/duo/Helper.class")))
        .write(folder.resolve("duo-library.jar"));
    Path impl = new PluginJars.Jar()
        .entry("fixture/duo/DuoMixer.class", Files.readAllBytes(classes.resolve("fixture/duo/DuoMixer.class")))
        .service(TokenMixerProvider.class, "fixture.duo.DuoMixer")
        .write(folder.resolve("duo-mixer.jar"));
    PluginLoadResult r = load(plugins);
    assertEquals(List.of(), r.problemLines());
    ProviderInfo duo = r.registry().tokenMixerInfo("duo");
    assertEquals("helper from the library jar", duo.provider().description());
    assertEquals(path(impl), duo.source());
    LoadedPlugin plugin = r.plugins().get(0);
    assertEquals(folder.toAbsolutePath().normalize(), plugin.path());
    assertEquals(List.of(library.toAbsolutePath().normalize(), impl.toAbsolutePath().normalize()), plugin.jars());
  }

  @Test
  void pluginClassesComeFromThePluginAndHostPackagesFromTheHost() throws Exception {
    new PluginJars.Jar()
        .classes(classes, "fixture.isolated")
        .service(TokenMixerProvider.class, "fixture.isolated.IsolatedMixer")
        .write(plugins.resolve("isolated.jar"));
    try (URLClassLoader host = new URLClassLoader(
        new URL[] {hostClasses.toUri().toURL()}, PluginLoaderTest.class.getClassLoader())) {
      Class<?> hostShared = host.loadClass("fixture.isolated.Shared");
      assertEquals("host", hostShared.getMethod("origin").invoke(null), "the host has its own copy");

      PluginLoadResult r = load(host, plugins);
      assertEquals(List.of(), r.problemLines());
      MixerProvider provider = r.registry().tokenMixer("isolated");
      assertEquals("plugin", provider.description(), "the plugin's copy of a shared class wins");
      ClassLoader loader = provider.getClass().getClassLoader();
      Class<?> pluginShared = loader.loadClass("fixture.isolated.Shared");
      assertSame(loader, pluginShared.getClassLoader());
      assertNotSame(hostShared, pluginShared);

      // Host-owned packages resolve to the host's classes: the SPI and TensorFlow.
      assertSame(TokenMixerProvider.class, loader.loadClass(TokenMixerProvider.class.getName()));
      assertSame(Operand.class, loader.loadClass(Operand.class.getName()));
      // Other host classes are invisible: the plugin cannot lean on the host's libraries.
      assertThrows(ClassNotFoundException.class, () -> loader.loadClass(Test.class.getName()));
      assertThrows(ClassNotFoundException.class, () -> loader.loadClass(FastMath.class.getName()));
      // JDK classes come from the platform.
      assertSame(String.class, loader.loadClass("java.lang.String"));
      // Services files are the plugin's own: core's built-in channel mixers are not seen again.
      assertEquals(List.of(),
          Collections.list(loader.getResources("META-INF/services/" + ChannelMixerProvider.class.getName())));
    }
  }

  @Test
  void servicesFileNamingAMissingClassIsReportedAndTheRestLoads() throws IOException {
    Path good = goodJar(plugins.resolve("good.jar"));
    Path ghost = new PluginJars.Jar()
        .classes(classes, "fixture.ghost")
        .service(TokenMixerProvider.class, "fixture.ghost.Missing")
        .service(TokenMixerProvider.class, "fixture.ghost.Present")
        .write(plugins.resolve("ghost.jar"));
    PluginLoadResult r = load(plugins);
    PluginProblem p = onlyProblem(r, ghost);
    assertTrue(p.cause().contains("fixture.ghost.Missing"), p.line());
    assertTrue(p.cause().contains("not found"), p.line());
    assertTrue(p.cause().contains("META-INF/services/" + TokenMixerProvider.class.getName()), p.line());
    assertEquals(path(ghost), r.registry().tokenMixerInfo("ghost-present").source());
    assertTheRestLoaded(r, good);
  }

  @Test
  void providerWhoseConstructorThrowsIsReported() throws IOException {
    Path good = goodJar(plugins.resolve("good.jar"));
    Path boom = new PluginJars.Jar()
        .classes(classes, "fixture.boom")
        .service(TokenMixerProvider.class, "fixture.boom.BoomMixer")
        .write(plugins.resolve("boom.jar"));
    PluginLoadResult r = load(plugins);
    PluginProblem p = onlyProblem(r, boom);
    assertTrue(p.cause().contains("fixture.boom.BoomMixer could not be instantiated"), p.line());
    assertTrue(p.cause().contains("java.lang.IllegalStateException: boom: the mixer cannot start"), p.line());
    assertFalse(r.registry().hasTokenMixer("boom"));
    assertTrue(r.plugins().stream().noneMatch(lp -> lp.path().equals(boom.toAbsolutePath().normalize())));
    assertTheRestLoaded(r, good);
  }

  @Test
  void nameOfABuiltInIsRefusedNamingBothSources() throws IOException {
    Path good = goodJar(plugins.resolve("good.jar"));
    Path clash = new PluginJars.Jar()
        .classes(classes, "fixture.clash")
        .service(ChannelMixerProvider.class, "fixture.clash.MlpClash")
        .write(plugins.resolve("clash.jar"));
    PluginLoadResult r = load(plugins);
    PluginProblem p = onlyProblem(r, clash);
    assertEquals("two channel mixers are named 'mlp': " + MlpChannelMixer.class.getName() + " (built-in) and"
        + " fixture.clash.MlpClash (" + path(clash) + "); remove one of them or rename its provider", p.cause());
    assertTrue(r.registry().channelMixer("mlp") instanceof MlpChannelMixer, "the built-in keeps its name");
    assertTheRestLoaded(r, good);
  }

  @Test
  void nameOfAnotherPluginIsRefusedNamingBothJars() throws IOException {
    Path good = goodJar(plugins.resolve("good.jar"));
    Path first = new PluginJars.Jar()
        .entry("fixture/twin/FirstTwin.class", Files.readAllBytes(classes.resolve("fixture/twin/FirstTwin.class")))
        .service(TokenMixerProvider.class, "fixture.twin.FirstTwin")
        .write(plugins.resolve("a-twin.jar"));
    Path second = new PluginJars.Jar()
        .entry("fixture/twin/SecondTwin.class", Files.readAllBytes(classes.resolve("fixture/twin/SecondTwin.class")))
        .service(TokenMixerProvider.class, "fixture.twin.SecondTwin")
        .write(plugins.resolve("b-twin.jar"));
    PluginLoadResult r = load(plugins);
    PluginProblem p = onlyProblem(r, second);
    assertEquals("two token mixers are named 'twin': fixture.twin.FirstTwin (" + path(first) + ") and"
        + " fixture.twin.SecondTwin (" + path(second) + "); remove one of them or rename its provider", p.cause());
    assertEquals(path(first), r.registry().tokenMixerInfo("twin").source());
    assertTheRestLoaded(r, good);
  }

  @Test
  void providerBuiltForAnotherSpiVersionIsRefused() throws IOException {
    Path good = goodJar(plugins.resolve("good.jar"));
    Path old = new PluginJars.Jar()
        .classes(classes, "fixture.old")
        .service(TokenMixerProvider.class, "fixture.old.OldMixer")
        .write(plugins.resolve("old.jar"));
    PluginLoadResult r = load(plugins);
    PluginProblem p = onlyProblem(r, old);
    assertEquals("token mixer 'old-spi' from fixture.old.OldMixer (" + path(old) + ") was built for Leviathan"
        + " SPI version " + (LeviathanSpi.VERSION + 1) + ", but this Leviathan provides SPI version "
        + LeviathanSpi.VERSION + "; rebuild the plugin against this version of leviathan-core", p.cause());
    assertFalse(r.registry().hasTokenMixer("old-spi"));
    assertTheRestLoaded(r, good);
  }

  @Test
  void jarBundlingTensorFlowOrJavaCppIsRefusedWithTheReason() throws IOException {
    Map<String, String> bundled = Map.of(
        "org/tensorflow/Operand.class", "TensorFlow",
        "org/bytedeco/javacpp/Loader.class", "JavaCPP");
    for (Map.Entry<String, String> e : bundled.entrySet()) {
      Path dir = Files.createDirectories(plugins.resolve(e.getValue()));
      Path good = goodJar(dir.resolve("good.jar"));
      Path fat = new PluginJars.Jar()
          .classes(classes, "fixture.ghost")
          .service(TokenMixerProvider.class, "fixture.ghost.Present")
          .entry(e.getKey(), new byte[] {(byte) 0xCA, (byte) 0xFE, (byte) 0xBA, (byte) 0xBE})
          .write(dir.resolve("fat.jar"));
      PluginLoadResult r = load(dir);
      PluginProblem p = onlyProblem(r, fat);
      assertEquals("bundles " + e.getValue() + " classes (" + e.getKey() + "); TensorFlow's native library can"
          + " be loaded only once per process, so a plugin must use the copy Leviathan provides: depend on"
          + " leviathan-core (and TensorFlow) with <scope>provided</scope> and rebuild the jar without them",
          p.cause());
      assertFalse(r.registry().hasTokenMixer("ghost-present"), "nothing of a refused jar is loaded");
      assertTheRestLoaded(r, good);
    }
  }

  @Test
  void filesThatAreNotJarsAndCorruptJarsAreReported() throws IOException {
    Path good = goodJar(plugins.resolve("good.jar"));
    Path notes = Files.writeString(plugins.resolve("notes.txt"), "not a plugin");
    Path random = Files.write(plugins.resolve("random.jar"), "PK this is not a zip".getBytes(StandardCharsets.UTF_8));
    byte[] whole = Files.readAllBytes(good);
    Path truncated = Files.write(plugins.resolve("truncated.jar"), java.util.Arrays.copyOf(whole, whole.length / 2));
    Path empty = Files.write(plugins.resolve("empty.jar"), new byte[0]);
    Files.writeString(plugins.resolve(".hidden"), "skipped");
    PluginLoadResult r = load(plugins);
    Map<Path, String> causes = new LinkedHashMap<>();
    r.problems().forEach(p -> causes.put(p.path(), p.cause()));
    assertEquals(List.of(empty, notes, random, truncated).stream().map(p -> p.toAbsolutePath().normalize()).toList(),
        List.copyOf(causes.keySet()), () -> "problems: " + r.problemLines());
    assertEquals("not a jar; a plugin folder may hold only .jar files and folders of .jar files",
        causes.get(notes.toAbsolutePath().normalize()));
    for (Path corrupt : List.of(random, truncated, empty)) {
      String cause = causes.get(corrupt.toAbsolutePath().normalize());
      assertTrue(cause.startsWith("not a readable jar ("), cause);
      assertTrue(cause.endsWith("); replace it with a complete copy"), cause);
    }
    assertTheRestLoaded(r, good);
  }

  @Test
  void corruptJarInAFolderPluginRefusesThatPluginOnly() throws IOException {
    Path good = goodJar(plugins.resolve("good.jar"));
    Path folder = plugins.resolve("duo");
    new PluginJars.Jar()
        .classes(classes, "fixture.duo")
        .service(TokenMixerProvider.class, "fixture.duo.DuoMixer")
        .write(folder.resolve("duo-mixer.jar"));
    Path broken = Files.write(folder.resolve("duo-library.jar"), new byte[] {1, 2, 3});
    PluginLoadResult r = load(plugins);
    PluginProblem p = onlyProblem(r, broken);
    assertTrue(p.cause().endsWith("; the plugin " + path(folder) + " is not loaded"), p.line());
    assertFalse(r.registry().hasTokenMixer("duo"));
    assertTheRestLoaded(r, good);
  }

  @Test
  void missingFolderAndJarWithoutProvidersAreReported() throws IOException {
    Path good = goodJar(plugins.resolve("good.jar"));
    Path library = new PluginJars.Jar().classes(classes, "fixture.duo").write(plugins.resolve("library.jar"));
    Path missing = plugins.resolve("no-such-folder");
    PluginLoadResult r = load(missing, plugins);
    assertEquals(List.of(
        "plugin " + path(missing) + ": plugin folder does not exist",
        "plugin " + path(library) + ": declares no mixer providers: it needs a META-INF/services/"
            + TokenMixerProvider.class.getName() + " or META-INF/services/" + ChannelMixerProvider.class.getName()
            + " file listing its provider classes"),
        r.problemLines());
    assertTheRestLoaded(r, good);
  }

  @Test
  void folderNamedTwiceIsLoadedOnce() throws IOException {
    Path good = goodJar(plugins.resolve("good.jar"));
    PluginLoadResult r = load(plugins, plugins.resolve(".").resolve("x").resolve(".."), good);
    assertEquals(List.of(), r.problemLines());
    assertEquals(1, r.plugins().size());
    assertTheRestLoaded(r, good);
  }

  @Test
  void pluginDirectoriesComeFromTheCommandLineTheEnvironmentAndTheWorkingDirectory() throws IOException {
    Path work = plugins;
    Path cli = work.resolve("cli");
    String sep = java.io.File.pathSeparator;
    // No ./plugins folder yet: only what was named.
    assertEquals(List.of(cli, work.resolve("env-a"), Path.of("/opt/leviathan/plugins")),
        PluginLoader.pluginDirectories(List.of(Path.of("cli")), "env-a" + sep + sep + " /opt/leviathan/plugins ", work));
    Files.createDirectories(work.resolve("plugins"));
    assertEquals(List.of(work.resolve("plugins")), PluginLoader.pluginDirectories(List.of(), null, work));
    assertEquals(List.of(cli, work.resolve("plugins")),
        PluginLoader.pluginDirectories(List.of(cli, Path.of("cli/../cli")), "plugins" + sep + cli, work),
        "a folder named twice is listed once");
    assertEquals(List.of(work.resolve("plugins")), PluginLoader.pluginDirectories(List.of(), "", work));
  }
}
