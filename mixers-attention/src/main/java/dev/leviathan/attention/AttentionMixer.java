package dev.leviathan.attention;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.RecurrentTokenMixer;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.train.BatchMatMul;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * {@code attention}: causal multi-head scaled dot-product attention (GPT-2).
 *
 * <pre>
 *   q, k, v = split(x W_qkv + b_qkv)                     [B, T, C] each, then H heads of width D = C/H
 *   A = softmax(q k^T / sqrt(D) + M),  M[t, s] = -1e9 for s > t, else 0
 *   y = merge_heads(dropout(A) v) W_o + b_o
 * </pre>
 *
 * Cost O(T^2 C) time and O(T^2 H) memory per sequence. Where the fused CPU kernel is loaded
 * ({@link NativeAttention}), training runs on it: the same sums without the {@code [T, T]} scores in memory.
 *
 * <p>Generation ({@link RecurrentTokenMixer}) keeps a key/value cache: the state is {@code K, V
 * [B, H, t, D]} of the t positions read. {@code prefill} returns the keys and values of the prompt;
 * {@code step} projects {@code x_t}, appends {@code k_t, v_t} (the cache grows by one position) and
 * scores {@code q_t} against every cached key, which needs no mask since all are at or before t.
 * Dropout is not applied in a step (generation is inference). No parameter depends on the absolute
 * position, so there is no position limit: O(t C) time and memory per step.
 */
public final class AttentionMixer implements TokenMixerProvider {
  private final boolean graphOnly;

  /** The provider the registry loads: the fused kernel ({@link NativeAttention}) where it can be used. */
  public AttentionMixer() {
    this(false);
  }

  /** A provider that always builds the graph form when {@code graphOnly} (tests compare the two). */
  AttentionMixer(boolean graphOnly) {
    this.graphOnly = graphOnly;
  }

  @Override
  public String name() {
    return "attention";
  }

  @Override
  public String description() {
    return "causal multi-head scaled dot-product attention (GPT-2 baseline)";
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
    return List.of(
        OptionSpec.integer("heads", 4, 1, "number of heads; must divide the width"),
        OptionSpec.bool("bias", true, "add biases to the q/k/v and output projections"),
        OptionSpec.real("dropout", 0.0, 0.0, "dropout rate on the attention weights while training"));
  }

  @Override
  public TokenMixer create(LayerContext layer, MixerOptions options) {
    int c = layer.width();
    int heads = options.heads("heads", c);
    boolean bias = options.getBool("bias");
    double dropout = options.getReal("dropout");
    options.require(dropout < 1, "dropout", "be < 1");
    Ops tf = layer.tf();
    var wqkv = layer.params().matrix("w_qkv", c, 3L * c);
    var bqkv = bias ? layer.params().bias("b_qkv", 3L * c) : null;
    var wo = layer.params().outputMatrix("w_o", c, c);
    var bo = bias ? layer.params().bias("b_o", c) : null;
    float scale = (float) (1.0 / Math.sqrt((double) c / heads));
    // the fused kernel has no dropout on the attention weights
    boolean fused = !graphOnly && !layer.portable() && dropout == 0 && NativeAttention.loaded();
    return new Attention(tf, layer, c, heads, dropout, scale, wqkv, bqkv, wo, bo, fused);
  }

  private static final class Attention implements RecurrentTokenMixer {
    private final Ops tf;
    private final LayerContext layer;
    private final int width;
    private final int heads;
    private final double dropout;
    private final float scale;
    private final Operand<TFloat32> wqkv;
    private final Operand<TFloat32> bqkv;
    private final Operand<TFloat32> wo;
    private final Operand<TFloat32> bo;
    private final boolean fused;

    Attention(Ops tf, LayerContext layer, int width, int heads, double dropout, float scale,
        Operand<TFloat32> wqkv, Operand<TFloat32> bqkv, Operand<TFloat32> wo, Operand<TFloat32> bo, boolean fused) {
      this.tf = tf;
      this.layer = layer;
      this.width = width;
      this.heads = heads;
      this.dropout = dropout;
      this.scale = scale;
      this.wqkv = wqkv;
      this.bqkv = bqkv;
      this.wo = wo;
      this.bo = bo;
      this.fused = fused;
    }

    @Override
    public Operand<TFloat32> apply(Operand<TFloat32> x) {
      if (!fused) {
        return prefill(x).output();
      }
      Operand<TFloat32> y = tf.reshape(NativeAttention.attend(tf, qkvHeads(x)), Layers.withLastDim(tf, x, width));
      return Layers.linear(tf, y, wo, bo);
    }

    /** The projection {@code x W_qkv + b_qkv} with its last axis split into {@code [3, H, D]}. */
    private Operand<TFloat32> qkvHeads(Operand<TFloat32> x) {
      Operand<TFloat32> qkv = Layers.linear(tf, x, wqkv, bqkv);
      return tf.reshape(qkv, Layers.withLastDims(tf, qkv, 3, heads, width / heads));
    }

    @Override
    public Step prefill(Operand<TFloat32> x) {
      // one transpose for q, k and v together: [B, T, 3, H, D] -> [3, B, H, T, D]
      var parts = tf.unstack(tf.linalg.transpose(qkvHeads(x), tf.constant(new int[] {2, 0, 3, 1, 4})), 3L).output();
      // the 1/sqrt(d) scale goes on q ([B, H, T, D]) rather than on the scores ([B, H, T, T])
      Operand<TFloat32> q = tf.math.mul(parts.get(0), tf.constant(scale));
      Operand<TFloat32> k = parts.get(1);
      Operand<TFloat32> v = parts.get(2);
      Operand<TFloat32> scores = tf.train.batchMatMul(q, k, TFloat32.class, BatchMatMul.adjY(true));
      scores = tf.math.add(scores, Layers.causalMask(tf, Layers.dim(tf, x, 1)));
      Operand<TFloat32> att = layer.dropout(tf.nn.softmax(scores), dropout);
      Operand<TFloat32> y = tf.train.batchMatMul(att, v, TFloat32.class);
      return new Step(Layers.linear(tf, Layers.mergeHeads(tf, y), wo, bo), List.of(k, v));
    }

    /** Appends {@code k_t, v_t} to the cache; the query reads every cached position (all are {@code <= t}). */
    @Override
    public Step step(Operand<TFloat32> xt, Operand<TInt32> position, List<Operand<TFloat32>> state) {
      if (state.size() != 2) {
        throw new IllegalArgumentException("attention carries two state tensors (keys, values), got " + state.size());
      }
      Operand<TFloat32> qkv = Layers.linear(tf, xt, wqkv, bqkv);
      var parts = tf.split(tf.constant(1), qkv, 3L);
      Operand<TInt32> oneHead = tf.constant(new int[] {-1, heads, 1, width / heads});
      Operand<TFloat32> q = tf.reshape(parts.output().get(0), oneHead);
      Operand<TFloat32> k = tf.concat(List.of(state.get(0), tf.reshape(parts.output().get(1), oneHead)), tf.constant(2));
      Operand<TFloat32> v = tf.concat(List.of(state.get(1), tf.reshape(parts.output().get(2), oneHead)), tf.constant(2));
      Operand<TFloat32> scores = tf.math.mul(
          tf.train.batchMatMul(q, k, TFloat32.class, BatchMatMul.adjY(true)), tf.constant(scale));
      Operand<TFloat32> y = tf.train.batchMatMul(tf.nn.softmax(scores), v, TFloat32.class);
      Operand<TFloat32> merged = tf.reshape(y, tf.constant(new int[] {-1, width}));
      return new Step(Layers.linear(tf, merged, wo, bo), List.of(k, v));
    }
  }
}
