package dev.leviathan.correlation;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.spi.Initializer;
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
 * {@code correlation-time}: Leviathan scores with lags along the time axis. Each query is scored
 * against a key and the L keys before it, weighted by a learned causal filter per head.
 *
 * <pre>
 *   q, k, v = split(x W_qkv + b_qkv)                      H heads of width D = C/H
 *   score(t, s) = sum_{tau=0..L} beta_tau (q_t . k_{s - tau}),   k_{s'} = 0 for s' < 0
 *               = q_t . k~_s,   k~_s = sum_{tau=0..L} beta_tau k_{s - tau}
 *   A = softmax(score / sqrt(D) + M),  M[t, s] = -1e9 for s > t, else 0
 *   y = merge_heads(A v) W_o + b_o
 * </pre>
 *
 * <p>The keys are smoothed once by the causal filter {@code beta} along time (L+1 shifted, weighted
 * copies of k, zero-padded in front, so {@code k_{<0}} is zero even with the key bias), then ordinary
 * causal attention runs on {@code q} and {@code k~}. Position {@code s <= t} only reads keys at
 * {@code s - tau <= t}, so the mixer is causal. Cost O(T^2 D + T D L) per head and sequence.
 *
 * <p>{@code beta} has shape {@code [H, L+1]} (column {@code tau}), raw unconstrained weights that start
 * at {@code [1, 0, .., 0]}: the mixer starts as plain attention. They are not normalised (a head may
 * learn to sharpen or flatten its scores through their sum) and not weight-decayed.
 *
 * <p>Generation ({@link RecurrentTokenMixer}): the state is the cache of smoothed keys {@code k~} and
 * values {@code [B, H, t, D]} of the t positions read, plus (for {@code L > 0}) the raw keys of the
 * last L positions {@code [B, H, L, D]} (zero for positions before 0). A step forms
 * {@code k~_t = sum_tau beta_tau k_{t - tau}} from {@code k_t} and those L keys, appends {@code k~_t}
 * and {@code v_t} to the cache, drops the oldest raw key and scores {@code q_t} against the cache.
 * {@code beta} is indexed by lag, not by position, so there is no position limit (the {@code lags <
 * context} rule only keeps the filter shorter than a training window). O(t D + L D) per head and step.
 */
public final class CorrelationTimeMixer implements TokenMixerProvider {
  @Override
  public String name() {
    return "correlation-time";
  }

  @Override
  public String description() {
    return "causal attention scored by a learned per-head correlation over time lags 0..L of the keys";
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
        OptionSpec.integer("lags", 2, 0, "time lags L: each score also reads the L keys before; must be < the context"),
        OptionSpec.bool("bias", true, "add biases to the q/k/v and output projections"));
  }

  @Override
  public TokenMixer create(LayerContext layer, MixerOptions options) {
    int c = layer.width();
    int heads = options.heads("heads", c);
    int d = c / heads;
    int lags = options.getInt("lags");
    options.require(lags < layer.context(), "lags", "be < the context " + layer.context());
    boolean bias = options.getBool("bias");
    Ops tf = layer.tf();
    var wqkv = layer.params().matrix("w_qkv", c, 3L * c);
    var bqkv = bias ? layer.params().bias("b_qkv", 3L * c) : null;
    var wo = layer.params().outputMatrix("w_o", c, c);
    var bo = bias ? layer.params().bias("b_o", c) : null;
    Initializer firstLag = (values, shape, random) -> {
      for (int i = 0; i < values.length; i++) {
        values[i] = i % (lags + 1) == 0 ? 1f : 0f;
      }
    };
    var beta = layer.params().create("beta", new long[] {heads, lags + 1L}, firstLag, false);
    float scale = (float) (1.0 / Math.sqrt(d));
    return new CorrelationTime(tf, c, heads, lags, scale, wqkv, bqkv, wo, bo, beta);
  }

  private static final class CorrelationTime implements RecurrentTokenMixer {
    private final Ops tf;
    private final int width;
    private final int heads;
    private final int d;
    private final int lags;
    private final float scale;
    private final Operand<TFloat32> wqkv;
    private final Operand<TFloat32> bqkv;
    private final Operand<TFloat32> wo;
    private final Operand<TFloat32> bo;
    private final Operand<TFloat32> beta;

    CorrelationTime(Ops tf, int width, int heads, int lags, float scale, Operand<TFloat32> wqkv,
        Operand<TFloat32> bqkv, Operand<TFloat32> wo, Operand<TFloat32> bo, Operand<TFloat32> beta) {
      this.tf = tf;
      this.width = width;
      this.heads = heads;
      this.d = width / heads;
      this.lags = lags;
      this.scale = scale;
      this.wqkv = wqkv;
      this.bqkv = bqkv;
      this.wo = wo;
      this.bo = bo;
      this.beta = beta;
    }

    @Override
    public Operand<TFloat32> apply(Operand<TFloat32> x) {
      return prefill(x).output();
    }

    @Override
    public Step prefill(Operand<TFloat32> x) {
      Operand<TInt32> t = Layers.dim(tf, x, 1);
      Operand<TFloat32> qkv = Layers.linear(tf, x, wqkv, bqkv);
      var parts = tf.split(tf.constant(2), qkv, 3L);
      Operand<TFloat32> q = Layers.splitHeads(tf, parts.output().get(0), heads);
      Operand<TFloat32> k = Layers.splitHeads(tf, parts.output().get(1), heads);
      Operand<TFloat32> v = Layers.splitHeads(tf, parts.output().get(2), heads);
      // kp[s + L] = k[s], kp[0..L-1] = 0; k_{s - tau} = kp[s + L - tau]
      Operand<TFloat32> kp = tf.pad(k, tf.constant(new int[][] {{0, 0}, {0, 0}, {lags, 0}, {0, 0}}), tf.constant(0f));
      // slicing to the shape of k keeps its static heads and width for mergeHeads
      Operand<TFloat32> smoothed = smooth(kp, tf.shape(k));
      Operand<TFloat32> scores = tf.math.mul(
          tf.train.batchMatMul(q, smoothed, TFloat32.class, BatchMatMul.adjY(true)), tf.constant(scale));
      scores = tf.math.add(scores, Layers.causalMask(tf, t));
      Operand<TFloat32> y = tf.train.batchMatMul(tf.nn.softmax(scores), v, TFloat32.class);
      Operand<TFloat32> out = Layers.linear(tf, Layers.mergeHeads(tf, y), wo, bo);
      if (lags == 0) {
        return new Step(out, List.of(smoothed, v));
      }
      // the raw keys of positions T-L .. T-1 (zero before position 0): kp[T .. T+L-1]
      Operand<TFloat32> recent = tf.slice(kp,
          tf.stack(List.of(tf.constant(0), tf.constant(0), t, tf.constant(0))), tf.constant(new int[] {-1, -1, lags, -1}));
      return new Step(out, List.of(smoothed, v, recent));
    }

    /**
     * Smooths the new key with the L raw keys before it, appends the smoothed key and the value to the
     * cache, and scores {@code q_t} against every cached smoothed key (all at or before t).
     */
    @Override
    public Step step(Operand<TFloat32> xt, Operand<TInt32> position, List<Operand<TFloat32>> state) {
      int expected = lags == 0 ? 2 : 3;
      if (state.size() != expected) {
        throw new IllegalArgumentException("correlation-time with " + lags + " lags carries " + expected
            + " state tensors (smoothed keys, values" + (lags == 0 ? "" : ", recent keys") + "), got " + state.size());
      }
      Operand<TFloat32> qkv = Layers.linear(tf, xt, wqkv, bqkv);
      var parts = tf.split(tf.constant(1), qkv, 3L);
      Operand<TInt32> oneHead = tf.constant(new int[] {-1, heads, 1, d});
      Operand<TFloat32> q = tf.reshape(parts.output().get(0), oneHead);
      Operand<TFloat32> kt = tf.reshape(parts.output().get(1), oneHead);
      Operand<TFloat32> vt = tf.reshape(parts.output().get(2), oneHead);
      // kp[L - tau] = k_{t - tau}: the L recent raw keys, then k_t
      Operand<TFloat32> kp = lags == 0 ? kt : tf.concat(List.of(state.get(2), kt), tf.constant(2));
      Operand<TFloat32> smoothedT = smooth(kp, tf.shape(kt));
      Operand<TFloat32> k = tf.concat(List.of(state.get(0), smoothedT), tf.constant(2));
      Operand<TFloat32> v = tf.concat(List.of(state.get(1), vt), tf.constant(2));
      Operand<TFloat32> scores = tf.math.mul(
          tf.train.batchMatMul(q, k, TFloat32.class, BatchMatMul.adjY(true)), tf.constant(scale));
      Operand<TFloat32> y = tf.train.batchMatMul(tf.nn.softmax(scores), v, TFloat32.class);
      Operand<TFloat32> out = Layers.linear(tf, tf.reshape(y, tf.constant(new int[] {-1, width})), wo, bo);
      if (lags == 0) {
        return new Step(out, List.of(k, v));
      }
      Operand<TFloat32> recent = tf.slice(kp, tf.constant(new int[] {0, 0, 1, 0}), tf.constant(new int[] {-1, -1, lags, -1}));
      return new Step(out, List.of(k, v, recent));
    }

    /**
     * {@code out[i] = sum_{tau=0..L} beta_tau kp[i + L - tau]} along axis 2, for the keys {@code kp}
     * preceded by the L keys before them; {@code size} is the shape of the result.
     */
    private Operand<TFloat32> smooth(Operand<TFloat32> kp, Operand<TInt32> size) {
      Operand<TFloat32> smoothed = null;
      for (int tau = 0; tau <= lags; tau++) {
        Operand<TFloat32> shifted = tf.slice(kp, tf.constant(new int[] {0, 0, lags - tau, 0}), size);
        Operand<TFloat32> b = tf.reshape(
            tf.slice(beta, tf.constant(new int[] {0, tau}), tf.constant(new int[] {heads, 1})),
            tf.constant(new int[] {1, heads, 1, 1}));
        Operand<TFloat32> term = tf.math.mul(shifted, b);
        smoothed = smoothed == null ? term : tf.math.add(smoothed, term);
      }
      return smoothed;
    }
  }
}
