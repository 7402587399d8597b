package dev.leviathan.core.plugin;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.model.LanguageModel;
import dev.leviathan.core.model.MixerContext;
import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.core.model.ResolvedModel;
import dev.leviathan.core.registry.GuardedMixers;
import dev.leviathan.core.registry.MixerCallException;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.spi.ChannelMixerProvider;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.RecurrentTokenMixer;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.StdArrays;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Plugins that load but misbehave when used: each fault is reported in one line naming the mixer, its
 * jar and the call, when the graph is built, and every other mixer stays usable.
 */
class PluginMisbehaviourTest {
  @TempDir static Path fixtures;
  @TempDir Path plugins;

  static Path classes;
  private final List<PluginLoadResult> results = new ArrayList<>();

  private static final String DOUBLE = "return x -> layer.tf().math.mul(x, layer.tf().constant(2f));";

  @BeforeAll
  static void compileFixtures() throws IOException {
    classes = fixtures.resolve("classes");
    Map<String, String> src = new LinkedHashMap<>();
    src.put("fixture.fine.Fine", token("fixture.fine", "Fine", "fine", "", "return List.of();", DOUBLE));
    src.put("fixture.opts.BadOptions", token("fixture.opts", "BadOptions", "bad-options", "",
        "throw new IllegalStateException(\"options exploded\");", DOUBLE));
    src.put("fixture.create.BadCreate", token("fixture.create", "BadCreate", "bad-create", "", "return List.of();",
        "throw new AssertionError(\"invariant broken\");"));
    src.put("fixture.nullc.NullCreate", token("fixture.nullc", "NullCreate", "null-create", "", "return List.of();",
        "return null;"));
    src.put("fixture.wide.Wide", token("fixture.wide", "Wide", "wide", "", "return List.of();",
        "return x -> layer.tf().concat(List.of(x, x), layer.tf().constant(-1));"));
    src.put("fixture.hidden.Hidden", token("fixture.hidden", "Hidden", "hidden", "", "return List.of();",
        "return x -> layer.tf().reshape(layer.tf().math.mul(x, layer.tf().constant(2f)),"
            + " layer.tf().identity(layer.tf().shape(x)));"));
    src.put("fixture.hang.Hanging", token("fixture.hang", "Hanging", "hanging",
        // Never returns, and ignores interrupts: a class initialiser stuck for good.
        """
        static final boolean READY = hang();
        private static boolean hang() {
          while (true) {
            try { Thread.sleep(60_000); } catch (InterruptedException e) { /* still stuck */ }
          }
        }
        """, "return List.of();", DOUBLE));
    src.put("fixture.rec.BadStep", token("fixture.rec", "BadStep", "bad-step", "", "return List.of();", """
        return new RecurrentTokenMixer() {
          @Override public Operand<TFloat32> apply(Operand<TFloat32> x) { return x; }
          @Override public Step prefill(Operand<TFloat32> x) {
            return new Step(x, List.of(layer.tf().sum(x, layer.tf().constant(1))));
          }
          @Override public Step step(Operand<TFloat32> xt, Operand<TInt32> position, List<Operand<TFloat32>> state) {
            return new Step(xt, List.of());
          }
        };"""));
    src.put("fixture.deep.Deep", """
        package fixture.deep;
        import dev.leviathan.core.spi.*;
        import java.util.List;
        import org.tensorflow.Operand;
        import org.tensorflow.types.TFloat32;
        public final class Deep implements ChannelMixerProvider {
          @Override public String name() { return "deep"; }
          @Override public String description() { return "recurses without end"; }
          @Override public int spiVersion() { return LeviathanSpi.VERSION; }
          @Override public List<OptionSpec> options() { return List.of(); }
          @Override public ChannelMixer create(LayerContext layer, MixerOptions options) { return this::deeper; }
          private Operand<TFloat32> deeper(Operand<TFloat32> x) { return deeper(x); }
        }
        """);
    PluginJars.compile(src, classes);
  }

  private static String token(String pkg, String cls, String name, String extra, String options, String create) {
    return """
        package %s;
        import dev.leviathan.core.spi.*;
        import java.util.List;
        import org.tensorflow.Operand;
        import org.tensorflow.types.TFloat32;
        import org.tensorflow.types.TInt32;
        public final class %s implements TokenMixerProvider {
          %s
          @Override public String name() { return "%s"; }
          @Override public String description() { return "misbehaves on purpose"; }
          @Override public int spiVersion() { return LeviathanSpi.VERSION; }
          @Override public boolean causal() { return true; }
          @Override public List<OptionSpec> options() { %s }
          @Override public TokenMixer create(LayerContext layer, MixerOptions options) { %s }
        }
        """.formatted(pkg, cls, extra, name, options, create);
  }

  @AfterEach
  void closeLoaders() {
    results.forEach(PluginLoadResult::close);
  }

  /** A plugin folder with the well-behaved plugin and {@code pkg}'s plugin; both load without problems. */
  private Path jar(String pkg, Class<?> service, String className) throws IOException {
    new PluginJars.Jar().classes(classes, "fixture.fine").service(TokenMixerProvider.class, "fixture.fine.Fine")
        .write(plugins.resolve("fine.jar"));
    return new PluginJars.Jar().classes(classes, pkg).service(service, className)
        .write(plugins.resolve(pkg.substring("fixture.".length()) + ".jar"));
  }

  private PluginLoadResult load(Duration limit) {
    PluginLoadResult r = new PluginLoader(PluginMisbehaviourTest.class.getClassLoader(), limit).load(List.of(plugins));
    results.add(r);
    return r;
  }

  private MixerRegistry loadClean(Path jar) {
    PluginLoadResult r = load(PluginLoader.DEFAULT_TIME_LIMIT);
    assertEquals(List.of(), r.problemLines(), "a plugin that fails only when used loads");
    assertEquals(2, r.plugins().size(), "fine.jar and " + jar.getFileName());
    return r.registry();
  }

  private static String path(Path p) {
    return p.toAbsolutePath().normalize().toString();
  }

  private static String advice(Path jar) {
    return "; this is a defect of the plugin: fix it, or remove " + path(jar) + " from the plugin folder";
  }

  /** Builds a one-layer model of {@code token} and {@code channel} with its forward pass, in a fresh graph. */
  private static void build(MixerRegistry registry, String token, String channel) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      ModelConfig config = ModelConfig.builder().vocabSize(11).context(8).width(16).layers(1)
          .tokenMixer(MixerSpec.of(token)).channelMixer(MixerSpec.of(channel)).build();
      LanguageModel model = new LanguageModel(tf, ResolvedModel.resolve(config, registry), new ParameterStore(1));
      Placeholder<TInt32> tokens = tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, 8)));
      model.loss(model.logits(tokens), tokens);
    }
  }

  /** The one-line failure of building a model with the mixer; {@code fine} builds in the same registry. */
  private static String failure(MixerRegistry registry, String token, String channel) {
    MixerCallException e = assertThrows(MixerCallException.class, () -> build(registry, token, channel));
    assertFalse(e.getMessage().contains("\n") || e.getMessage().contains("\r"), e.getMessage());
    build(registry, "fine", "mlp");
    return e.getMessage();
  }

  @Test
  void throwingOptionsIsNamedWhereverTheOptionsAreRead() throws IOException {
    Path jar = jar("fixture.opts", TokenMixerProvider.class, "fixture.opts.BadOptions");
    MixerRegistry registry = loadClean(jar);
    String expected = "token mixer 'bad-options' from " + path(jar)
        + " failed in options(): IllegalStateException: options exploded" + advice(jar);
    assertEquals(expected, failure(registry, "bad-options", "mlp"));
    TokenMixerProvider guarded = GuardedMixers.token(registry.tokenMixerInfo("bad-options"));
    assertEquals(expected, assertThrows(MixerCallException.class, () -> MixerOptions.resolve(guarded, Map.of()))
        .getMessage());
    assertEquals("misbehaves on purpose", guarded.description(), "its other declarations still answer");
  }

  @Test
  void errorThrownByCreateIsNamedWithTheBlock() throws IOException {
    Path jar = jar("fixture.create", TokenMixerProvider.class, "fixture.create.BadCreate");
    MixerRegistry registry = loadClean(jar);
    assertEquals("token mixer 'bad-create' from " + path(jar) + " failed in create() for block 0: AssertionError:"
        + " invariant broken" + advice(jar), failure(registry, "bad-create", "mlp"));
  }

  @Test
  void createReturningNullIsRefusedWhenTheModelIsBuilt() throws IOException {
    Path jar = jar("fixture.nullc", TokenMixerProvider.class, "fixture.nullc.NullCreate");
    MixerRegistry registry = loadClean(jar);
    assertEquals("token mixer 'null-create' from " + path(jar) + " broke the mixer contract in create() for block 0:"
        + " it returned null" + advice(jar), failure(registry, "null-create", "mlp"));
  }

  @Test
  void outputOfTheWrongShapeIsRefusedWhenTheGraphIsBuilt() throws IOException {
    Path jar = jar("fixture.wide", TokenMixerProvider.class, "fixture.wide.Wide");
    MixerRegistry registry = loadClean(jar);
    assertEquals("token mixer 'wide' from " + path(jar) + " broke the mixer contract in apply() for block 0: it"
        + " returned an output of shape [?, 8, 32] for an input of shape [?, 8, 16]; the output must have the input's"
        + " shape" + advice(jar), failure(registry, "wide", "mlp"));
  }

  @Test
  void stackOverflowInApplyIsOneLineNamingTheChannelMixer() throws IOException {
    Path jar = jar("fixture.deep", ChannelMixerProvider.class, "fixture.deep.Deep");
    MixerRegistry registry = loadClean(jar);
    assertEquals("channel mixer 'deep' from " + path(jar) + " failed in apply() for block 0: StackOverflowError"
        + advice(jar), failure(registry, "fine", "deep"));
  }

  @Test
  void stepReturningTheWrongStateIsRefusedWhenItsGraphIsBuilt() throws IOException {
    Path jar = jar("fixture.rec", TokenMixerProvider.class, "fixture.rec.BadStep");
    MixerRegistry registry = loadClean(jar);
    TokenMixerProvider guarded = GuardedMixers.token(registry.tokenMixerInfo("bad-step"));
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      TokenMixer mixer = guarded.create(context(tf), MixerOptions.resolve(guarded, Map.of()));
      RecurrentTokenMixer r = assertInstanceOf(RecurrentTokenMixer.class, mixer, "generation still sees a recurrent mixer");
      Operand<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(1, -1, 4)));
      RecurrentTokenMixer.Step prefill = r.prefill(x);
      Operand<TFloat32> xt = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(1, 4)));
      MixerCallException e = assertThrows(MixerCallException.class,
          () -> r.step(xt, tf.constant(3), prefill.state()));
      assertEquals("token mixer 'bad-step' from " + path(jar) + " broke the mixer contract in step() for block 0: it"
          + " returned 0 state tensors but was given 1" + advice(jar), e.getMessage());
    }
  }

  @Test
  void outputWithoutAStaticShapeGetsTheInputsShapeAndKeepsItsValues() throws IOException {
    Path jar = jar("fixture.hidden", TokenMixerProvider.class, "fixture.hidden.Hidden");
    MixerRegistry registry = loadClean(jar);
    TokenMixerProvider raw = (TokenMixerProvider) registry.tokenMixerInfo("hidden").provider();
    TokenMixerProvider guarded = GuardedMixers.token(registry.tokenMixerInfo("hidden"));
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, 2, 4)));
      Operand<TFloat32> hidden = raw.create(context(tf), MixerOptions.resolve(raw, Map.of())).apply(x);
      assertArrayEquals(new long[] {-1, -1, -1}, hidden.shape().asArray(), "the fixture hides its output's static shape");
      Operand<TFloat32> y = guarded.create(context(tf), MixerOptions.resolve(guarded, Map.of())).apply(x);
      assertArrayEquals(new long[] {-1, 2, 4}, y.shape().asArray());
      float[][][] in = {{{1, 2, 3, 4}, {-1, 0, 0.5f, 8}}};
      try (TFloat32 xt = TFloat32.tensorOf(StdArrays.ndCopyOf(in));
          Result out = s.runner().feed(x, xt).fetch(y).run()) {
        float[][][] got = StdArrays.array3dCopyOf((TFloat32) out.get(0));
        for (int t = 0; t < 2; t++) {
          for (int c = 0; c < 4; c++) {
            in[0][t][c] *= 2;
          }
          assertArrayEquals(in[0][t], got[0][t], 0f);
        }
      }
    }
  }

  @Test
  void hangingStaticInitialiserIsSkippedInBoundedTimeNamingItsJar() throws IOException {
    Path jar = jar("fixture.hang", TokenMixerProvider.class, "fixture.hang.Hanging");
    long start = System.nanoTime();
    PluginLoadResult r = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> load(Duration.ofMillis(500)));
    double seconds = (System.nanoTime() - start) / 1e9;
    assertTrue(seconds < 10, "loading took " + seconds + " s");
    assertEquals(List.of("plugin " + path(jar) + ": token mixer provider fixture.hang.Hanging did not finish loading"
        + " within 0.5 s (its class initialiser, constructor or declarations hang), so it is skipped; fix the plugin or"
        + " remove it from the plugin folder (if it is only slow, raise LEVIATHAN_PLUGIN_TIMEOUT, in seconds)"),
        r.problemLines());
    assertFalse(r.registry().hasTokenMixer("hanging"));
    // Every other mixer is listed and a model that does not use the plugin builds.
    assertTrue(r.registry().hasTokenMixer("fine") && r.registry().hasChannelMixer("mlp"));
    Executable use = () -> {
      r.registry().tokenMixers().forEach(p -> GuardedMixers.of(p).options());
      build(r.registry(), "fine", "mlp");
    };
    assertTimeoutPreemptively(Duration.ofSeconds(20), use);
  }

  @Test
  void timeLimitComesFromTheEnvironmentValue() {
    assertEquals(PluginLoader.DEFAULT_TIME_LIMIT, PluginLoader.timeLimit(null));
    assertEquals(PluginLoader.DEFAULT_TIME_LIMIT, PluginLoader.timeLimit(" "));
    assertEquals(Duration.ofMillis(2500), PluginLoader.timeLimit("2.5"));
    for (String bad : List.of("0", "-1", "soon", "NaN", "1e9")) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PluginLoader.timeLimit(bad));
      assertEquals("LEVIATHAN_PLUGIN_TIMEOUT must be a number of seconds between 0 and 86400, got '" + bad
          + "'; unset it to use 30 s", e.getMessage());
    }
  }

  private static MixerContext context(Ops tf) {
    return new MixerContext(tf, 4, 8, 0, 1, new ParameterStore(1).scoped(tf, "mix"), null);
  }
}
