package dev.leviathan.core.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.leviathan.core.model.MixerContext;
import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.core.spi.InvalidMixerOptionException;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.ParameterExport;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;

/** What the guard makes of each way a provider can misbehave: one line naming mixer, source and call. */
class GuardedMixersTest {
  private static final String JAR = "/plugins/scripted.jar";
  private static final String ADVICE = "; this is a defect of the plugin: fix it, or remove " + JAR
      + " from the plugin folder";

  /** A provider whose declarations and mixer are given as functions. */
  static final class Scripted extends Scriptable {}

  /** The scripted provider's body. */
  static class Scriptable implements TokenMixerProvider {
    Supplier<String> description = () -> "scripted";
    Supplier<String> version = () -> "1";
    Supplier<List<OptionSpec>> options = List::of;
    BiFunction<LayerContext, MixerOptions, TokenMixer> create = (layer, o) -> x -> x;

    @Override public String name() { return "scripted"; }
    @Override public String description() { return description.get(); }
    @Override public int spiVersion() { return LeviathanSpi.VERSION; }
    @Override public String version() { return version.get(); }
    @Override public boolean causal() { return true; }
    @Override public List<OptionSpec> options() { return options.get(); }
    @Override public TokenMixer create(LayerContext layer, MixerOptions o) { return create.apply(layer, o); }
  }

  private static TokenMixerProvider guarded(Scripted p, String jar) {
    return GuardedMixers.token(new ProviderInfo(p, ProviderInfo.Kind.TOKEN, Origin.plugin(Path.of(jar))));
  }

  private static String message(Executable call) {
    return assertThrows(MixerCallException.class, call).getMessage();
  }

  /** Builds the scripted mixer for block 2 and applies it to a {@code [?, 5, 4]} input. */
  private static void applyInBlock2(TokenMixerProvider p) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      LayerContext layer = new MixerContext(tf, 4, 5, 2, 3, new ParameterStore(3).scoped(tf, "m"), null);
      Operand<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, 5, 4)));
      p.create(layer, MixerOptions.resolve(p, Map.of())).apply(x);
    }
  }

  /** What a plugin compiled without generics checks could hand back as a float tensor. */
  @SuppressWarnings("unchecked")
  private static Operand<TFloat32> uncheckedFloat(Operand<?> y) {
    return (Operand<TFloat32>) y;
  }

  @Test
  void declarationsThatThrowOrReturnNullAreNamed() {
    Scripted p = new Scripted();
    p.description = () -> {
      throw new UnsupportedOperationException("no words");
    };
    p.version = () -> null;
    p.options = () -> Arrays.asList(OptionSpec.integer("k", 1, 1, "k"), null);
    TokenMixerProvider g = guarded(p, JAR);
    assertEquals("token mixer 'scripted' from " + JAR + " failed in description(): UnsupportedOperationException:"
        + " no words" + ADVICE, message(g::description));
    assertEquals("token mixer 'scripted' from " + JAR + " broke the mixer contract in version(): it returned null"
        + ADVICE, message(g::version));
    assertEquals("token mixer 'scripted' from " + JAR + " broke the mixer contract in options(): the list holds null"
        + ADVICE, message(g::options));
  }

  @Test
  void outputsOfTheWrongKindAreRefusedWhenTheGraphIsBuilt() {
    Scripted p = new Scripted();
    p.create = (layer, o) -> x -> layer.tf().reduceSum(x, layer.tf().constant(1));
    assertEquals("token mixer 'scripted' from " + JAR + " broke the mixer contract in apply() for block 2: it returned"
        + " an output of shape [?, 4] for an input of shape [?, 5, 4]; the output must have the input's shape" + ADVICE,
        message(() -> applyInBlock2(guarded(p, JAR))));
    p.create = (layer, o) -> x -> null;
    assertEquals("token mixer 'scripted' from " + JAR + " broke the mixer contract in apply() for block 2: it returned"
        + " null as an output" + ADVICE, message(() -> applyInBlock2(guarded(p, JAR))));
    p.create = (layer, o) -> x -> uncheckedFloat(layer.tf().dtypes.cast(x, TFloat64.class));
    assertEquals("token mixer 'scripted' from " + JAR + " broke the mixer contract in apply() for block 2: it returned"
        + " an output of type DT_DOUBLE; mixers return float32" + ADVICE, message(() -> applyInBlock2(guarded(p, JAR))));
    try (Graph other = new Graph()) {
      Operand<TFloat32> foreign = Ops.create(other).constant(new float[][][] {{{1, 2, 3, 4}}});
      p.create = (layer, o) -> x -> foreign;
      assertEquals("token mixer 'scripted' from " + JAR + " broke the mixer contract in apply() for block 2: it"
          + " returned an output of another graph than its input's" + ADVICE, message(() -> applyInBlock2(guarded(p, JAR))));
    }
  }

  @Test
  void theUsersOptionErrorAndOutOfMemoryPassThroughUnchanged() {
    Scripted p = new Scripted();
    InvalidMixerOptionException bad = new InvalidMixerOptionException("scripted", "k", "mixer 'scripted': option 'k'");
    p.create = (layer, o) -> {
      throw bad;
    };
    assertSame(bad, assertThrows(InvalidMixerOptionException.class, () -> applyInBlock2(guarded(p, JAR))));
    OutOfMemoryError oom = new OutOfMemoryError("Java heap space");
    p.create = (layer, o) -> {
      throw oom;
    };
    assertSame(oom, assertThrows(OutOfMemoryError.class, () -> applyInBlock2(guarded(p, JAR))));
  }

  /** A provider with an export format whose calls misbehave. */
  static final class Exporting extends Scriptable implements ParameterExport {
    @Override public String exportFormat() { throw new IllegalStateException("no format today"); }
    @Override public String encodedWords() { return null; }
    @Override public boolean encodes(String parameter, MixerOptions options) { return true; }
    @Override public void write(OutputStream out, List<ExportTensor> tensors) throws IOException {
      if (tensors.isEmpty()) {
        throw new IOException("No space left on device");
      }
      throw new StackOverflowError();
    }
  }

  @Test
  void anExportFormatIsGuardedLikeTheRestButItsFileErrorsPassThrough() throws IOException {
    assertEquals(null, GuardedMixers.export(new ProviderInfo(new Scripted(), ProviderInfo.Kind.TOKEN,
        Origin.plugin(Path.of(JAR)))), "no format offered");
    ParameterExport e = GuardedMixers.export(new ProviderInfo(new Exporting(), ProviderInfo.Kind.TOKEN,
        Origin.plugin(Path.of(JAR))));
    assertEquals("token mixer 'scripted' from " + JAR + " failed in exportFormat(): IllegalStateException: no format"
        + " today" + ADVICE, message(e::exportFormat));
    assertEquals("token mixer 'scripted' from " + JAR + " broke the mixer contract in encodedWords(): it returned null"
        + ADVICE, message(e::encodedWords));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    assertEquals("No space left on device", assertThrows(IOException.class, () -> e.write(out, List.of())).getMessage());
    List<ParameterExport.ExportTensor> one = List.of(new ParameterExport.ExportTensor("w", new long[] {1}, new float[1],
        true));
    assertEquals("token mixer 'scripted' from " + JAR + " failed in write(): StackOverflowError" + ADVICE,
        message(() -> e.write(out, one)));
  }

  @Test
  void aBuiltInDefectAsksForAReport() {
    Scripted p = new Scripted();
    p.create = (layer, o) -> {
      throw new ExceptionInInitializerError(new ArithmeticException("/ by zero"));
    };
    TokenMixerProvider builtIn = GuardedMixers.token(new ProviderInfo(p, ProviderInfo.Kind.TOKEN,
        new Origin(Origin.Type.BUILT_IN, Path.of("/opt/lib/leviathan-mixers.jar"))));
    assertEquals("token mixer 'scripted' from built-in (leviathan-mixers.jar) failed in create() for block 2:"
        + " ExceptionInInitializerError (caused by ArithmeticException: / by zero); this is a defect of Leviathan:"
        + " rerun with --debug and report it", message(() -> applyInBlock2(builtIn)));
  }
}
