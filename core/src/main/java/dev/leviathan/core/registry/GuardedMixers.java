package dev.leviathan.core.registry;

import dev.leviathan.core.spi.ChannelMixer;
import dev.leviathan.core.spi.ChannelMixerProvider;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.MixerProvider;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.ParameterExport;
import dev.leviathan.core.spi.RecurrentTokenMixer;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.DataType;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Providers and mixers wrapped so that every call into their code goes through {@link MixerCalls}: a
 * failure, or a result that breaks the SPI contract, is one line naming the mixer, its jar and the call.
 * The model, the option checks and {@code leviathan mixers} use these wrappers, never a provider
 * directly.
 *
 * <p>What is checked, besides what the code throws: {@code name}, {@code description}, {@code version}
 * and {@code options} return no null; {@code create} returns a mixer; when the graph is built, every
 * output of {@code apply} and {@code prefill} is a float32 tensor of the graph of its input with the
 * input's shape {@code [B, T, C]}, and every output of {@code step} has the shape of its input
 * {@code [B, C]}, compared dimension by dimension wherever both static shapes know it; {@code prefill}
 * and {@code step} return float32 state tensors, {@code step} as many as it was given. Where the output's
 * static shape knows less than the input's (an unknown rank or dimension), the output is reshaped to the
 * input's run-time shape: later ops then see the input's static shape, and an output of another size
 * fails on its first evaluation.
 */
public final class GuardedMixers {
  private GuardedMixers() {}

  /** The token mixer provider of {@code info}, guarded. */
  public static TokenMixerProvider token(ProviderInfo info) {
    return (TokenMixerProvider) of(info);
  }

  /** The channel mixer provider of {@code info}, guarded. */
  public static ChannelMixerProvider channel(ProviderInfo info) {
    return (ChannelMixerProvider) of(info);
  }

  /** The provider of {@code info}, guarded (a token or channel mixer provider, as {@code info} is). */
  public static MixerProvider of(ProviderInfo info) {
    MixerProvider raw = info.provider();
    if (raw instanceof Guarded) {
      return raw;
    }
    MixerCalls calls = new MixerCalls(info.kind(), nameForMessages(raw), info.origin());
    return info.kind() == ProviderInfo.Kind.TOKEN
        ? new Token((TokenMixerProvider) raw, calls)
        : new Channel((ChannelMixerProvider) raw, calls);
  }

  /**
   * The export format the provider of {@code info} offers ({@link ParameterExport}), guarded like the
   * rest of it, or {@code null} when it offers none. An {@code IOException} of {@code write} passes
   * through unchanged: it is about the file being written.
   */
  public static ParameterExport export(ProviderInfo info) {
    return info.provider() instanceof ParameterExport e
        ? new Export(e, new MixerCalls(info.kind(), nameForMessages(info.provider()), info.origin()))
        : null;
  }

  /** The provider's name, or its class name if asking fails (the guarded call of {@code name()} reports that). */
  private static String nameForMessages(MixerProvider raw) {
    try {
      String name = raw.name();
      return name == null ? raw.getClass().getName() : name;
    } catch (OutOfMemoryError e) {
      throw e;
    } catch (Throwable e) {
      return raw.getClass().getName();
    }
  }

  /** What every guarded provider answers for its raw one. */
  private abstract static class Guarded implements MixerProvider {
    final MixerProvider raw;
    final MixerCalls calls;
    private final String name;

    Guarded(MixerProvider raw, MixerCalls calls) {
      this.raw = raw;
      this.calls = calls;
      this.name = notNull(calls, "name()", calls.call("name()", raw::name));
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public String description() {
      return notNull(calls, "description()", calls.call("description()", raw::description));
    }

    @Override
    public int spiVersion() {
      return calls.call("spiVersion()", raw::spiVersion);
    }

    @Override
    public String version() {
      return notNull(calls, "version()", calls.call("version()", raw::version));
    }

    @Override
    public boolean causal() {
      return calls.call("causal()", raw::causal);
    }

    @Override
    public List<OptionSpec> options() {
      // Copied inside the guard: the list may be the plugin's own implementation.
      List<OptionSpec> specs = notNull(calls, "options()", calls.call("options()", () -> {
        List<OptionSpec> declared = raw.options();
        return declared == null ? null : new ArrayList<>(declared);
      }));
      if (specs.contains(null)) {
        throw calls.broken("options()", "the list holds null");
      }
      return List.copyOf(specs);
    }

    @Override
    public String toString() {
      return raw.getClass().getName();
    }
  }

  private static final class Token extends Guarded implements TokenMixerProvider {
    private final TokenMixerProvider provider;

    Token(TokenMixerProvider raw, MixerCalls calls) {
      super(raw, calls);
      this.provider = raw;
    }

    @Override
    public TokenMixer create(LayerContext layer, MixerOptions options) {
      String what = "create() for block " + layer.layer();
      TokenMixer mixer = notNull(calls, what, calls.call(what, () -> provider.create(layer, options)));
      Outputs out = new Outputs(calls, layer);
      return mixer instanceof RecurrentTokenMixer r ? new Recurrent(r, out) : x -> out.apply(mixer::apply, x);
    }
  }

  private static final class Channel extends Guarded implements ChannelMixerProvider {
    private final ChannelMixerProvider provider;

    Channel(ChannelMixerProvider raw, MixerCalls calls) {
      super(raw, calls);
      this.provider = raw;
    }

    @Override
    public ChannelMixer create(LayerContext layer, MixerOptions options) {
      String what = "create() for block " + layer.layer();
      ChannelMixer mixer = notNull(calls, what, calls.call(what, () -> provider.create(layer, options)));
      Outputs out = new Outputs(calls, layer);
      return x -> out.apply(mixer::apply, x);
    }
  }

  private record Export(ParameterExport raw, MixerCalls calls) implements ParameterExport {
    @Override
    public String exportFormat() {
      return notNull(calls, "exportFormat()", calls.call("exportFormat()", raw::exportFormat));
    }

    @Override
    public String encodedWords() {
      return notNull(calls, "encodedWords()", calls.call("encodedWords()", raw::encodedWords));
    }

    @Override
    public boolean encodes(String parameter, MixerOptions options) {
      return calls.call("encodes()", () -> raw.encodes(parameter, options));
    }

    @Override
    public void write(OutputStream out, List<ExportTensor> tensors) throws IOException {
      IOException[] failed = new IOException[1];
      calls.call("write()", () -> {
        try {
          raw.write(out, tensors);
        } catch (IOException e) {
          failed[0] = e;
        }
        return null;
      });
      if (failed[0] != null) {
        throw failed[0];
      }
    }
  }

  /** A recurrent token mixer whose apply, prefill, step and position limit are guarded. */
  private static final class Recurrent implements RecurrentTokenMixer {
    private final RecurrentTokenMixer raw;
    private final Outputs out;

    Recurrent(RecurrentTokenMixer raw, Outputs out) {
      this.raw = raw;
      this.out = out;
    }

    @Override
    public Operand<TFloat32> apply(Operand<TFloat32> x) {
      return out.apply(raw::apply, x);
    }

    @Override
    public Step prefill(Operand<TFloat32> x) {
      String what = out.what("prefill()");
      Step s = notNull(out.calls, what, out.calls.call(what, () -> raw.prefill(x)));
      return out.calls.call(what, () -> new Step(out.checked(what, x, s.output()), out.state(what, x, s.state(), -1)));
    }

    @Override
    public Step step(Operand<TFloat32> xt, Operand<TInt32> position, List<Operand<TFloat32>> state) {
      String what = out.what("step()");
      Step s = notNull(out.calls, what, out.calls.call(what, () -> raw.step(xt, position, state)));
      return out.calls.call(what,
          () -> new Step(out.checked(what, xt, s.output()), out.state(what, xt, s.state(), state.size())));
    }

    @Override
    public long positionLimit() {
      return out.calls.call(out.what("positionLimit()"), raw::positionLimit);
    }
  }

  /** The output checks of one layer's mixer. */
  private static final class Outputs {
    final MixerCalls calls;
    private final Ops tf;
    private final int layer;

    Outputs(MixerCalls calls, LayerContext context) {
      this.calls = calls;
      this.tf = context.tf();
      this.layer = context.layer();
    }

    String what(String call) {
      return call + " for block " + layer;
    }

    Operand<TFloat32> apply(Function<Operand<TFloat32>, Operand<TFloat32>> body, Operand<TFloat32> x) {
      String what = what("apply()");
      Operand<TFloat32> y = calls.call(what, () -> body.apply(x));
      return checked(what, x, y);
    }

    /** {@code y} checked against the shape of {@code x}; see the class comment. */
    Operand<TFloat32> checked(String what, Operand<TFloat32> x, Operand<TFloat32> y) {
      // The output may be the plugin's own Operand implementation: reading it is plugin code too.
      return calls.call(what, () -> checkedShape(what, x, y));
    }

    private Operand<TFloat32> checkedShape(String what, Operand<TFloat32> x, Operand<TFloat32> y) {
      tensor(what, x, y, "an output");
      Shape xs = x.shape();
      Shape ys = y.shape();
      if (!ys.isUnknown() && !xs.isUnknown()) {
        boolean same = ys.numDimensions() == xs.numDimensions();
        for (int i = 0; same && i < xs.numDimensions(); i++) {
          same = ys.size(i) == Shape.UNKNOWN_SIZE || xs.size(i) == Shape.UNKNOWN_SIZE || ys.size(i) == xs.size(i);
        }
        if (!same) {
          throw calls.broken(what, "it returned an output of shape " + render(ys) + " for an input of shape "
              + render(xs) + "; the output must have the input's shape");
        }
      }
      return knowsLess(ys, xs) ? tf.reshape(y, tf.shape(x)) : y;
    }

    /** The state tensors of {@code what}, checked; {@code expected < 0}: any number. */
    List<Operand<TFloat32>> state(String what, Operand<TFloat32> x, List<Operand<TFloat32>> state, int expected) {
      if (state == null) {
        throw calls.broken(what, "it returned a null state list");
      }
      if (expected >= 0 && state.size() != expected) {
        throw calls.broken(what, "it returned " + state.size() + " state tensors but was given " + expected);
      }
      List<Operand<TFloat32>> out = new ArrayList<>(state.size());
      for (int i = 0; i < state.size(); i++) {
        out.add(tensor(what, x, state.get(i), "state tensor " + i));
      }
      return out;
    }

    private Operand<TFloat32> tensor(String what, Operand<TFloat32> x, Operand<TFloat32> y, String role) {
      if (y == null) {
        throw calls.broken(what, "it returned null as " + role);
      }
      if (y.env() != x.env()) {
        throw calls.broken(what, "it returned " + role + " of another graph than its input's");
      }
      if (y.asOutput().dataType() != DataType.DT_FLOAT) {
        throw calls.broken(what, "it returned " + role + " of type " + y.asOutput().dataType() + "; mixers return float32");
      }
      return y;
    }

    private static boolean knowsLess(Shape ys, Shape xs) {
      if (xs.isUnknown()) {
        return false;
      }
      if (ys.isUnknown()) {
        return true;
      }
      for (int i = 0; i < xs.numDimensions(); i++) {
        if (ys.size(i) == Shape.UNKNOWN_SIZE && xs.size(i) != Shape.UNKNOWN_SIZE) {
          return true;
        }
      }
      return false;
    }
  }

  private static <T> T notNull(MixerCalls calls, String what, T value) {
    if (value == null) {
      throw calls.broken(what, "it returned null");
    }
    return value;
  }

  /** A static shape as {@code [?, 32, 64]}. */
  static String render(Shape s) {
    if (s.isUnknown()) {
      return "[unknown rank]";
    }
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < s.numDimensions(); i++) {
      sb.append(i == 0 ? "" : ", ").append(s.size(i) == Shape.UNKNOWN_SIZE ? "?" : Long.toString(s.size(i)));
    }
    return sb.append("]").toString();
  }
}
