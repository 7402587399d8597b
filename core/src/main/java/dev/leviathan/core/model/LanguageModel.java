package dev.leviathan.core.model;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.ops.NativeLayers;
import dev.leviathan.core.spi.ChannelMixer;
import dev.leviathan.core.spi.Initializer;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.Parameters;
import dev.leviathan.core.spi.TokenMixer;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.nn.SoftmaxCrossEntropyWithLogits;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The MetaFormer language model.
 *
 * <pre>
 *   x = wte[tokens] (+ wpe[0..T))                       token (and position) embedding, dropout
 *   for each block i:
 *     x = x + dropout(tokenMixer_i(norm(x)))            mixes across positions
 *     x = x + dropout(channelMixer_i(norm(x)))          mixes across channels, per position
 *   logits = norm(x) wte^T   (or x lm_head when untied)
 * </pre>
 *
 * The block knows nothing about the mixers it holds: it is given them, resolved ({@link ResolvedModel}),
 * and builds each for its layer with its options.
 */
public final class LanguageModel {
  private static final float NORM_EPS = 1e-5f;

  private final Ops tf;
  private final ModelConfig config;
  private final ParameterStore params;
  private final Dropout dropout;
  private final List<Block> blocks = new ArrayList<>();
  private final List<LayerRecord> layerRecords = new ArrayList<>();
  private final Operand<TFloat32> wte;
  private final Operand<TFloat32> wpe;
  private final Operand<TFloat32> lmHead;
  private final Norm finalNorm;
  private final Ops embeddingOps;
  private final Ops headOps;
  private final boolean causal;
  /** The graph must run in any TensorFlow: mixers use TensorFlow's own ops only. */
  private final boolean portable;

  /** Which provider built each layer's mixers (recorded with checkpoints). */
  public record LayerRecord(int layer, String role, String mixer, String version, String source, MixerOptions options) {}

  /** One block; {@code ops} is its name scope ({@code blockI}), which holds the residual additions. */
  private record Block(Ops ops, Norm norm1, TokenMixer tokenMixer, Norm norm2, ChannelMixer channelMixer) {}

  /** A norm and the name scope its ops are built in. */
  private final class Norm {
    private final Ops ops;
    private final Operand<TFloat32> gain;
    private final Operand<TFloat32> bias;

    Norm(Ops ops, Parameters p) {
      this.ops = ops;
      gain = p.gain("gain", config.width());
      bias = config.norm() == NormKind.LAYERNORM ? p.bias("bias", config.width()) : null;
    }

    Operand<TFloat32> apply(Operand<TFloat32> x) {
      return apply(ops, x);
    }

    /** The norm built in scope {@code in}. */
    Operand<TFloat32> apply(Ops in, Operand<TFloat32> x) {
      if (config.norm() != NormKind.LAYERNORM) {
        return Layers.rmsNorm(in, x, gain, NORM_EPS);
      }
      return !portable && NativeLayers.loaded()
          ? NativeLayers.layerNorm(in, x, gain, bias, NORM_EPS)
          : Layers.layerNorm(in, x, gain, bias, NORM_EPS);
    }
  }

  /**
   * Creates the model's parameters and the mixers of {@code model}'s resolved layers in the graph of
   * {@code tf}.
   */
  public LanguageModel(Ops tf, ResolvedModel model, ParameterStore params) {
    this(tf, model, params, false);
  }

  /**
   * As {@link #LanguageModel(Ops, ResolvedModel, ParameterStore)}; {@code portable}: the graph must run in
   * any TensorFlow (see {@link LayerContext#portable()}), as an exported SavedModel does.
   */
  public LanguageModel(Ops tf, ResolvedModel model, ParameterStore params, boolean portable) {
    this.tf = tf;
    this.portable = portable;
    this.config = model.config();
    this.params = params;
    this.dropout = new Dropout(tf);
    Ops top = tf.withSubScope("model");
    Parameters p = params.scoped(top, "model");
    wte = p.create("wte", new long[] {config.vocabSize(), config.width()}, Initializer.normal(Initializer.GPT2_STD), true);
    wpe = config.positionEmbedding()
        ? p.create("wpe", new long[] {config.context(), config.width()}, Initializer.normal(Initializer.GPT2_STD), true)
        : null;
    for (ResolvedLayer layer : model.layers()) {
      int i = layer.index();
      String blockName = "block" + i;
      Ops blockOps = tf.withSubScope(blockName);
      Ops norm1Ops = blockOps.withSubScope("norm1");
      Norm n1 = new Norm(norm1Ops, params.scoped(norm1Ops, blockName + "/norm1"));
      TokenMixer tm = layer.tokenProvider().create(context(blockOps.withSubScope("mix"), mixerScope(i, true), i),
          layer.tokenOptions());
      Ops norm2Ops = blockOps.withSubScope("norm2");
      Norm n2 = new Norm(norm2Ops, params.scoped(norm2Ops, blockName + "/norm2"));
      ChannelMixer cm = layer.channelProvider().create(context(blockOps.withSubScope("ffn"), mixerScope(i, false), i),
          layer.channelOptions());
      blocks.add(new Block(blockOps, n1, tm, n2, cm));
      layerRecords.add(new LayerRecord(i, "token", layer.tokenMixer().name(), layer.tokenProvider().version(),
          layer.tokenMixer().source(), layer.tokenOptions()));
      layerRecords.add(new LayerRecord(i, "channel", layer.channelMixer().name(), layer.channelProvider().version(),
          layer.channelMixer().source(), layer.channelOptions()));
    }
    headOps = tf.withSubScope("head");
    Ops finalNormOps = headOps.withSubScope("norm");
    finalNorm = new Norm(finalNormOps, params.scoped(finalNormOps, "head/norm"));
    embeddingOps = tf.withSubScope("embedding");
    lmHead = config.tieEmbeddings()
        ? null
        : params.scoped(headOps, "head").matrix("lm_head", config.width(), config.vocabSize());
    this.causal = model.causal();
  }


  /**
   * The prefix of the parameter names of layer {@code layer}'s token mixer ({@code block<i>/mix}) or
   * channel mixer ({@code block<i>/ffn}); a mixer's parameter {@code w} is named {@code <prefix>/w}.
   */
  public static String mixerScope(int layer, boolean token) {
    return "block" + layer + (token ? "/mix" : "/ffn");
  }

  private LayerContext context(Ops ops, String scope, int layer) {
    return new MixerContext(ops, config.width(), config.context(), layer, config.layers(),
        params.scoped(ops, scope), dropout, portable);
  }

  /** Logits {@code [B, T, vocab]} for tokens {@code [B, T]} with {@code T <= context}. */
  public Operand<TFloat32> logits(Operand<TInt32> tokens) {
    Ops f = embeddingOps;
    Operand<TFloat32> x = f.gather(wte, tokens, f.constant(0));
    if (wpe != null) {
      Operand<TInt32> t = Layers.dim(f, tokens, 1);
      Operand<TFloat32> pos = f.slice(wpe, f.constant(new int[] {0, 0}),
          f.stack(List.of(t, f.constant(-1))));
      x = f.math.add(x, pos);
    }
    x = dropout.apply(f, x, config.dropout());
    for (Block b : blocks) {
      Ops r = b.ops();
      x = r.math.add(x, dropout.apply(r, b.tokenMixer().apply(b.norm1().apply(x)), config.dropout()));
      x = r.math.add(x, dropout.apply(r, b.channelMixer().apply(b.norm2().apply(x)), config.dropout()));
    }
    x = finalNorm.apply(x);
    return lmHead == null ? Layers.linearTransposed(headOps, x, wte) : Layers.linear(headOps, x, lmHead, null);
  }

  /**
   * Prefill and step graphs that generate with carried token-mixer states, built in a sub-scope of
   * this model's graph on each call (see {@link Generation}).
   */
  public Generation generation() {
    Ops f = tf.withSubScope("generate");
    List<Generation.Layer> parts = new ArrayList<>();
    for (Block b : blocks) {
      parts.add(new Generation.Layer(x -> b.norm1().apply(f, x), b.tokenMixer(),
          x -> b.channelMixer().apply(b.norm2().apply(f, x))));
    }
    return new Generation(f, config, wte, wpe, parts, x -> {
      Operand<TFloat32> y = finalNorm.apply(f, x);
      return lmHead == null ? Layers.linearTransposed(f, y, wte) : Layers.linear(f, y, lmHead, null);
    });
  }

  /** Mean cross-entropy in nats of {@code logits [B, T, V]} against {@code targets [B, T]}. */
  public Operand<TFloat32> loss(Operand<TFloat32> logits, Operand<TInt32> targets) {
    Ops f = tf.withSubScope("loss");
    int v = config.vocabSize();
    Operand<TFloat32> flat = f.reshape(logits, f.constant(new int[] {-1, v}));
    Operand<TFloat32> labels = f.oneHot(f.reshape(targets, f.constant(new int[] {-1})), f.constant(v),
        f.constant(1f), f.constant(0f));
    SoftmaxCrossEntropyWithLogits<TFloat32> ce = f.nn.softmaxCrossEntropyWithLogits(flat, labels);
    return f.math.mean(ce.loss(), f.constant(0));
  }

  public ModelConfig config() {
    return config;
  }

  public ParameterStore parameters() {
    return params;
  }

  public Dropout dropout() {
    return dropout;
  }

  /** Whether every mixer in the stack is causal (required for language modelling). */
  public boolean causal() {
    return causal;
  }

  /** One record per (layer, role): which provider built it, its version, source and options. */
  public List<LayerRecord> layers() {
    return List.copyOf(layerRecords);
  }
}
