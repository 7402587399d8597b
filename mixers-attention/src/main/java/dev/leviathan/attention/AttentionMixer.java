package dev.leviathan.attention;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.TokenMixer;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.train.BatchMatMul;
import org.tensorflow.types.TFloat32;

/**
 * {@code attention}: causal multi-head scaled dot-product attention (GPT-2).
 *
 * <pre>
 *   q, k, v = split(x W_qkv + b_qkv)                     [B, T, C] each, then H heads of width D = C/H
 *   A = softmax(q k^T / sqrt(D) + M),  M[t, s] = -1e9 for s > t, else 0
 *   y = merge_heads(dropout(A) v) W_o + b_o
 * </pre>
 *
 * Cost O(T^2 C) time and O(T^2 H) memory per sequence.
 */
public final class AttentionMixer implements TokenMixerProvider {
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
    return x -> {
      Operand<TFloat32> qkv = Layers.linear(tf, x, wqkv, bqkv);
      var parts = tf.split(tf.constant(2), qkv, 3L);
      Operand<TFloat32> q = Layers.splitHeads(tf, parts.output().get(0), heads);
      Operand<TFloat32> k = Layers.splitHeads(tf, parts.output().get(1), heads);
      Operand<TFloat32> v = Layers.splitHeads(tf, parts.output().get(2), heads);
      Operand<TFloat32> scores = tf.math.mul(
          tf.train.batchMatMul(q, k, TFloat32.class, BatchMatMul.adjY(true)), tf.constant(scale));
      scores = tf.math.add(scores, Layers.causalMask(tf, Layers.dim(tf, x, 1)));
      Operand<TFloat32> att = layer.dropout(tf.nn.softmax(scores), dropout);
      Operand<TFloat32> y = tf.train.batchMatMul(att, v, TFloat32.class);
      return Layers.linear(tf, Layers.mergeHeads(tf, y), wo, bo);
    };
  }
}
