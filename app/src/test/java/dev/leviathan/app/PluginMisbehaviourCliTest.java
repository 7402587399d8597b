package dev.leviathan.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.spi.TokenMixerProvider;
import dev.leviathan.trainer.Corpus;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Plugin jars that load but fail when used, and one whose class initialiser hangs, through the CLI entry
 * point: {@code mixers} lists every other mixer and names each bad jar in one warning, training with a bad
 * mixer fails with one line naming mixer and jar, and a run that does not use the hanging plugin is not
 * held up by it.
 */
class PluginMisbehaviourCliTest {
  private static final String DOUBLE = "return x -> layer.tf().math.mul(x, layer.tf().constant(2f));";
  private static final String ADVICE = "; this is a defect of the plugin: fix it, or remove %s from the plugin folder";
  private static final Map<String, String> ONE_SECOND = Map.of("LEVIATHAN_PLUGIN_TIMEOUT", "1");

  @TempDir Path work;

  /** The misbehaving mixers by name, each in its own jar in {@code plugins/}, with what using it says. */
  private Map<String, Path> badJars() throws IOException {
    Path plugins = Files.createDirectories(work.resolve("plugins"));
    Map<String, Path> jars = new LinkedHashMap<>();
    jars.put("bad-options", PluginFixtures.jar(plugins.resolve("bad-options.jar"), TokenMixerProvider.class,
        "fixture.opts.BadOptions", PluginFixtures.token("fixture.opts.BadOptions", "bad-options", "",
            "throw new IllegalStateException(\"options exploded\");", DOUBLE)));
    jars.put("bad-create", PluginFixtures.jar(plugins.resolve("bad-create.jar"), TokenMixerProvider.class,
        "fixture.create.BadCreate", PluginFixtures.token("fixture.create.BadCreate", "bad-create", "",
            "return List.of();", "throw new NoClassDefFoundError(\"fixture/create/Gone\");")));
    jars.put("null-create", PluginFixtures.jar(plugins.resolve("null-create.jar"), TokenMixerProvider.class,
        "fixture.nullc.NullCreate", PluginFixtures.token("fixture.nullc.NullCreate", "null-create", "",
            "return List.of();", "return null;")));
    jars.put("wide", PluginFixtures.jar(plugins.resolve("wide.jar"), TokenMixerProvider.class,
        "fixture.wide.Wide", PluginFixtures.token("fixture.wide.Wide", "wide", "", "return List.of();",
            "return x -> layer.tf().concat(List.of(x, x), layer.tf().constant(-1));")));
    return jars;
  }

  /** What training with each bad mixer says after {@code error: <mixer> from <jar> }. */
  private static final Map<String, String> FAILURES = Map.of(
      "bad-options", "failed in options(): IllegalStateException: options exploded",
      "bad-create", "failed in create() for block 0: NoClassDefFoundError: fixture/create/Gone",
      "null-create", "broke the mixer contract in create() for block 0: it returned null",
      "wide", "broke the mixer contract in apply() for block 0: it returned an output of shape [?, 32, 64] for an"
          + " input of shape [?, 32, 32]; the output must have the input's shape");

  private Path hangingJar() throws IOException {
    Path plugins = Files.createDirectories(work.resolve("plugins"));
    return PluginFixtures.jar(plugins.resolve("hanging.jar"), TokenMixerProvider.class, "fixture.hang.Hanging",
        PluginFixtures.token("fixture.hang.Hanging", "hanging", """
            static final boolean READY = hang();
            private static boolean hang() {
              while (true) {
                try { Thread.sleep(60_000); } catch (InterruptedException e) { /* still stuck */ }
              }
            }
            """, "return List.of();", DOUBLE));
  }

  private static String hangWarning(Path jar) {
    return "warning: plugin " + jar + ": token mixer provider fixture.hang.Hanging did not finish loading within 1 s"
        + " (its class initialiser, constructor or declarations hang), so it is skipped; fix the plugin or remove it"
        + " from the plugin folder (if it is only slow, raise LEVIATHAN_PLUGIN_TIMEOUT, in seconds)";
  }

  private Cli timed(Map<String, String> env, String... args) {
    return assertTimeoutPreemptively(Duration.ofSeconds(120), () -> Cli.run(work, env, args));
  }

  @Test
  void mixersListsEveryOtherMixerAndNamesEachBadJarInOneLine() throws IOException {
    Map<String, Path> bad = badJars();
    Path hanging = hangingJar();
    for (boolean json : List.of(false, true)) {
      long start = System.nanoTime();
      Cli m = timed(ONE_SECOND, json ? new String[] {"mixers", "--json"} : new String[] {"mixers"});
      double seconds = (System.nanoTime() - start) / 1e9;
      assertTrue(seconds < 30, "mixers took " + seconds + " s");
      assertEquals(0, m.code(), m.toString());
      Path opts = bad.get("bad-options");
      assertEquals(List.of(hangWarning(hanging),
          "warning: token mixer 'bad-options' from " + opts + " " + FAILURES.get("bad-options") + ADVICE.formatted(opts)),
          m.err().lines().toList(), m.toString());
      for (String listed : List.of("attention", "correlation", "mlgru", "mlp", "swiglu", "bad-create", "null-create",
          "wide")) {
        assertTrue(m.out().contains(json ? "\"name\" : \"" + listed + "\"" : "  " + listed + " "),
            listed + " is listed: " + m.out());
      }
      assertFalse(m.out().contains("bad-options") || m.out().contains("hanging"), m.out());
    }
  }

  @Test
  void trainingWithABadMixerFailsInOneLineNamingTheMixerAndItsJar() throws IOException {
    Map<String, Path> bad = badJars();
    Files.writeString(work.resolve("slice.txt"), Corpus.bundledText().substring(0, 30_000));
    for (Map.Entry<String, Path> e : bad.entrySet()) {
      List<String> args = new ArrayList<>(List.of("train", "--mixer", e.getKey(), "--data", "slice.txt",
          "--out", "run-" + e.getKey(), "--steps", "2"));
      args.addAll(List.of(TrainCliTest.TINY));
      Cli t = timed(Map.of(), args.toArray(String[]::new));
      assertEquals(1, t.code(), t.toString());
      assertEquals(List.of("error: token mixer '" + e.getKey() + "' from " + e.getValue() + " "
          + FAILURES.get(e.getKey()) + ADVICE.formatted(e.getValue())), t.err().lines().toList(), t.toString());
    }
  }

  @Test
  void aRunThatDoesNotUseTheHangingPluginIsNotHeldUp() throws IOException {
    Path hanging = hangingJar();
    Files.writeString(work.resolve("slice.txt"), Corpus.bundledText().substring(0, 30_000));
    List<String> args = new ArrayList<>(List.of("train", "--mixer", "attention", "--data", "slice.txt", "--out", "run",
        "--steps", "2"));
    args.addAll(List.of(TrainCliTest.TINY));
    Cli t = timed(ONE_SECOND, args.toArray(String[]::new));
    assertEquals(0, t.code(), t.toString());
    assertTrue(t.err().startsWith(hangWarning(hanging) + "\n"), t.err());
    assertTrue(Files.isRegularFile(work.resolve("run/checkpoints/last/state.json")));
  }
}
