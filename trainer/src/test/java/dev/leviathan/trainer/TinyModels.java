package dev.leviathan.trainer;

import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.model.ResolvedModel;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * Tiny randomly initialised models for generation tests: every built-in causal token mixer, and
 * {@code cumulative-mean}, a mixer with no step function (as a plugin may be).
 */
final class TinyModels {
  static final int VOCAB = 32;
  static final int WIDTH = 16;

  private TinyModels() {}

  /**
   * {@code cumulative-mean}: {@code y_t = W (1 / (t + 1)) sum_{s <= t} x_s}. Only {@code apply}, so
   * generation recomputes it over its input history.
   */
  static final class CumulativeMean implements TokenMixerProvider {
    @Override
    public String name() {
      return "cumulative-mean";
    }

    @Override
    public String description() {
      return "test mixer without a step function";
    }

    @Override
    public int spiVersion() {
      return LeviathanSpi.VERSION;
    }

    @Override
    public boolean causal() {
      return true;
    }

    @Override
    public List<OptionSpec> options() {
      return List.of();
    }

    @Override
    public TokenMixer create(LayerContext layer, MixerOptions options) {
      Ops tf = layer.tf();
      Operand<TFloat32> w = layer.params().matrix("w", layer.width(), layer.width());
      return x -> {
        Operand<TFloat32> sums = tf.math.cumsum(x, tf.constant(1));
        Operand<TFloat32> counts = tf.math.cumsum(tf.onesLike(x), tf.constant(1));
        return dev.leviathan.core.ops.Layers.linear(tf, tf.math.div(sums, counts), w, null);
      };
    }
  }

  /** Every provider on the class path plus {@code cumulative-mean}. */
  static MixerRegistry registry() {
    MixerRegistry.Builder b = MixerRegistry.builder();
    b.loadBuiltIns(TinyModels.class.getClassLoader());
    b.add(new CumulativeMean(), "test");
    return b.build();
  }

  /** One token mixer per layer; mlgru comes with its glu-mml channel mixer, the others with mlp. */
  static ModelConfig config(List<String> mixers, int context, boolean positionEmbedding) {
    List<MixerSpec> specs = mixers.stream().map(TinyModels::spec).toList();
    List<MixerSpec> channels = mixers.stream().map(m -> MixerSpec.of(m.equals("mlgru") ? "glu-mml" : "mlp")).toList();
    return ModelConfig.builder().vocabSize(VOCAB).context(context).width(WIDTH).layers(mixers.size())
        .tokenMixers(specs).channelMixers(channels).positionEmbedding(positionEmbedding).build();
  }

  /** Small windows, so that generation passes them within the context. */
  private static MixerSpec spec(String mixer) {
    return switch (mixer) {
      case "aft-local" -> MixerSpec.of(mixer, Map.of("window", 5));
      case "aft-conv" -> MixerSpec.of(mixer, Map.of("kernel", 4));
      default -> MixerSpec.of(mixer);
    };
  }

  /**
   * A runtime on one thread with random weights: the initial ones, matrices and embeddings scaled up
   * so that the logits are far from uniform and the mixers' outputs weigh in the residual stream.
   */
  static ModelRuntime runtime(ModelConfig config, long seed) {
    ModelRuntime rt = new ModelRuntime(ResolvedModel.resolve(config, registry()),
        ConfigLoader.load(null, List.of()).optimizer(), new RuntimeSpec(1, 1, false, Devices.Choice.AUTO), false);
    rt.initialize(seed);
    Map<String, float[]> values = rt.parameters().read(rt.session());
    Map<String, float[]> scaled = new HashMap<>();
    values.forEach((name, v) -> {
      if (!name.endsWith("gain") && !name.endsWith("bias")) {
        float k = name.endsWith("wte") || name.endsWith("wpe") ? 40f : 8f;
        float[] s = v.clone();
        for (int i = 0; i < s.length; i++) {
          s[i] *= k;
        }
        scaled.put(name, s);
      }
    });
    rt.parameters().set(rt.session(), scaled);
    return rt;
  }

  static int[] randomTokens(int n, long seed) {
    Random r = new Random(seed);
    int[] t = new int[n];
    for (int i = 0; i < n; i++) {
      t[i] = r.nextInt(VOCAB);
    }
    return t;
  }
}
