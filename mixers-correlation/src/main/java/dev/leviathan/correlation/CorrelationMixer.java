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
 * {@code correlation}: the default Leviathan mixer. Queries are scored against keys with a
 * cross-correlation over lags along the feature axis of each head, then used like causal attention.
 *
 * <pre>
 *   q, k, v = split(x W_qkv + b_qkv)                      H heads of width D = C/H
 *   c_tau(t, s) = sum_j q_t[j] k_s[j + tau],  tau = -L..L
 *       padding=zero:     k_s[i] = 0 for i outside 0..D-1
 *       padding=circular: k_s[i] = k_s[i mod D]
 *   reduce=learned: score(t, s) = sum_tau alpha_tau c_tau(t, s),  alpha = softmax(theta) per head
 *   reduce=max:     score(t, s) = max_tau c_tau(t, s)
 *   A = softmax(score / sqrt(D) + M),  M[t, s] = -1e9 for s > t, else 0
 *   y = merge_heads(A v) W_o + b_o
 * </pre>
 *
 * <p>With {@code reduce=learned} the lags are never materialised as separate score matrices. Writing
 * {@code j' = j + tau}, {@code score(t, s) = q~_t . k_s} with {@code q~_t[j'] = sum_tau alpha_tau
 * q_t[j' - tau]} (same padding rule, applied to q): a depth-wise convolution of each query along its
 * features with the head's filter {@code alpha}, computed as 2L+1 shifted, weighted copies of q, followed
 * by ordinary causal attention. Cost O(T^2 D + T D L) per head and sequence, memory O(T^2) per head as
 * for attention. {@code theta} has shape {@code [H, 2L+1]} (column {@code tau + L} is lag {@code tau})
 * and starts at {@code theta_0 = ln(38 L)}, all other lags 0, so that lag 0 carries 95% of the weight
 * (each other lag 0.05 / 2L) and the mixer starts close to plain attention. It is not weight-decayed.
 * With {@code L = 0} the mixer is exactly attention and has no {@code theta}.
 *
 * <p>With {@code reduce=max} each of the 2L+1 lags gets its own score matrix {@code q . shift(k, tau)};
 * their element-wise maximum (the peak of the cross-correlation) is the score. Cost O((2L+1) T^2 D) time
 * per head; the gradient of each score entry flows through the lag that attains the maximum. No
 * parameter besides the projections.
 *
 * <p>Generation ({@link RecurrentTokenMixer}) keeps a key/value cache: the state is the raw keys and
 * the values {@code [B, H, t, D]} of the t positions read (the lags act within one key's features, so
 * nothing else is needed). A step appends {@code k_t, v_t} and scores {@code q_t} against the cache:
 * with {@code reduce=learned} through {@code q~_t}; with {@code reduce=max} through
 * {@code c_tau(t, s) = shift(q_t, -tau) . k_s}, the same sum as {@code q_t . shift(k_s, tau)} with
 * {@code j' = j + tau} under either padding rule. No parameter depends on the absolute position, so
 * there is no position limit. O((2L+1) t D) per head and step.
 */
public final class CorrelationMixer implements TokenMixerProvider {
  /** Share of the lag-0 weight in {@code alpha} at initialisation (for {@code L > 0}). */
  static final double LAG0_SHARE = 0.95;

  @Override
  public String name() {
    return "correlation";
  }

  @Override
  public String description() {
    return "causal attention scored by a per-head cross-correlation over feature lags -L..L (Leviathan)";
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
        OptionSpec.integer("lags", 2, 0, "feature lags L: scores use lags -L..L; must be < the head width"),
        OptionSpec.choice("reduce", "learned", List.of("learned", "max"),
            "how lags are combined: learned softmax weights per head, or the maximum over lags"),
        OptionSpec.choice("padding", "zero", List.of("zero", "circular"),
            "features shifted past the head's edge are zero, or wrap around"),
        OptionSpec.bool("bias", true, "add biases to the q/k/v and output projections"));
  }

  @Override
  public TokenMixer create(LayerContext layer, MixerOptions options) {
    int c = layer.width();
    int heads = options.heads("heads", c);
    int d = c / heads;
    int lags = options.getInt("lags");
    options.require(lags < d, "lags",
        "be < the head width D = " + d + " (width " + c + " / heads " + heads + ")");
    boolean learned = "learned".equals(options.getString("reduce"));
    boolean circular = "circular".equals(options.getString("padding"));
    boolean bias = options.getBool("bias");
    Ops tf = layer.tf();
    var wqkv = layer.params().matrix("w_qkv", c, 3L * c);
    var bqkv = bias ? layer.params().bias("b_qkv", 3L * c) : null;
    var wo = layer.params().outputMatrix("w_o", c, c);
    var bo = bias ? layer.params().bias("b_o", c) : null;
    var theta = learned && lags > 0
        ? layer.params().create("theta", new long[] {heads, 2L * lags + 1}, lagZeroInit(lags), false)
        : null;
    float scale = (float) (1.0 / Math.sqrt(d));
    return new Correlation(tf, c, heads, lags, learned, circular, scale, wqkv, bqkv, wo, bo, theta);
  }

  private static final class Correlation implements RecurrentTokenMixer {
    private final Ops tf;
    private final int width;
    private final int heads;
    private final int d;
    private final int lags;
    private final boolean learned;
    private final boolean circular;
    private final float scale;
    private final Operand<TFloat32> wqkv;
    private final Operand<TFloat32> bqkv;
    private final Operand<TFloat32> wo;
    private final Operand<TFloat32> bo;
    private final Operand<TFloat32> theta;

    Correlation(Ops tf, int width, int heads, int lags, boolean learned, boolean circular, float scale,
        Operand<TFloat32> wqkv, Operand<TFloat32> bqkv, Operand<TFloat32> wo, Operand<TFloat32> bo,
        Operand<TFloat32> theta) {
      this.tf = tf;
      this.width = width;
      this.heads = heads;
      this.d = width / heads;
      this.lags = lags;
      this.learned = learned;
      this.circular = circular;
      this.scale = scale;
      this.wqkv = wqkv;
      this.bqkv = bqkv;
      this.wo = wo;
      this.bo = bo;
      this.theta = theta;
    }

    @Override
    public Operand<TFloat32> apply(Operand<TFloat32> x) {
      return prefill(x).output();
    }

    @Override
    public Step prefill(Operand<TFloat32> x) {
      Operand<TFloat32> qkv = Layers.linear(tf, x, wqkv, bqkv);
      var parts = tf.split(tf.constant(2), qkv, 3L);
      Operand<TFloat32> q = Layers.splitHeads(tf, parts.output().get(0), heads);
      Operand<TFloat32> k = Layers.splitHeads(tf, parts.output().get(1), heads);
      Operand<TFloat32> v = Layers.splitHeads(tf, parts.output().get(2), heads);
      Operand<TFloat32> scores;
      if (lags == 0 || learned) {
        scores = tf.train.batchMatMul(filteredQueries(q), k, TFloat32.class, BatchMatMul.adjY(true));
      } else {
        scores = null;
        for (int tau = -lags; tau <= lags; tau++) {
          Operand<TFloat32> cTau = tf.train.batchMatMul(
              q, shiftFeatures(tf, k, tau, d, circular), TFloat32.class, BatchMatMul.adjY(true));
          scores = scores == null ? cTau : tf.math.maximum(scores, cTau);
        }
      }
      scores = tf.math.add(tf.math.mul(scores, tf.constant(scale)), Layers.causalMask(tf, Layers.dim(tf, x, 1)));
      Operand<TFloat32> y = tf.train.batchMatMul(tf.nn.softmax(scores), v, TFloat32.class);
      return new Step(Layers.linear(tf, Layers.mergeHeads(tf, y), wo, bo), List.of(k, v));
    }

    /**
     * Appends {@code k_t, v_t} to the cache and scores {@code q_t} against every cached key. For
     * {@code reduce=max} the lag is moved to the query, {@code c_tau(t, s) = shift(q_t, -tau) . k_s}
     * (same padding rule), so the cache is never shifted.
     */
    @Override
    public Step step(Operand<TFloat32> xt, Operand<TInt32> position, List<Operand<TFloat32>> state) {
      if (state.size() != 2) {
        throw new IllegalArgumentException("correlation carries two state tensors (keys, values), got " + state.size());
      }
      Operand<TFloat32> qkv = Layers.linear(tf, xt, wqkv, bqkv);
      var parts = tf.split(tf.constant(1), qkv, 3L);
      Operand<TInt32> oneHead = tf.constant(new int[] {-1, heads, 1, d});
      Operand<TFloat32> q = tf.reshape(parts.output().get(0), oneHead);
      Operand<TFloat32> k = tf.concat(List.of(state.get(0), tf.reshape(parts.output().get(1), oneHead)), tf.constant(2));
      Operand<TFloat32> v = tf.concat(List.of(state.get(1), tf.reshape(parts.output().get(2), oneHead)), tf.constant(2));
      Operand<TFloat32> scores;
      if (lags == 0 || learned) {
        scores = tf.train.batchMatMul(filteredQueries(q), k, TFloat32.class, BatchMatMul.adjY(true));
      } else {
        scores = null;
        for (int tau = -lags; tau <= lags; tau++) {
          Operand<TFloat32> cTau = tf.train.batchMatMul(
              shiftFeatures(tf, q, -tau, d, circular), k, TFloat32.class, BatchMatMul.adjY(true));
          scores = scores == null ? cTau : tf.math.maximum(scores, cTau);
        }
      }
      Operand<TFloat32> y = tf.train.batchMatMul(
          tf.nn.softmax(tf.math.mul(scores, tf.constant(scale))), v, TFloat32.class);
      Operand<TFloat32> merged = tf.reshape(y, tf.constant(new int[] {-1, width}));
      return new Step(Layers.linear(tf, merged, wo, bo), List.of(k, v));
    }

    /** {@code q~[j'] = sum_tau alpha_tau q[j' - tau] = sum_tau alpha_tau shift(q, -tau)[j']}; q itself for L = 0. */
    private Operand<TFloat32> filteredQueries(Operand<TFloat32> q) {
      if (lags == 0) {
        return q;
      }
      Operand<TFloat32> alpha = tf.nn.softmax(theta);
      Operand<TFloat32> qt = null;
      for (int tau = -lags; tau <= lags; tau++) {
        Operand<TFloat32> a = tf.reshape(
            tf.slice(alpha, tf.constant(new int[] {0, tau + lags}), tf.constant(new int[] {heads, 1})),
            tf.constant(new int[] {1, heads, 1, 1}));
        Operand<TFloat32> term = tf.math.mul(shiftFeatures(tf, q, -tau, d, circular), a);
        qt = qt == null ? term : tf.math.add(qt, term);
      }
      return qt;
    }
  }

  /** {@code theta[h, L] = ln(38 L)}, others 0: softmax gives lag 0 the share {@link #LAG0_SHARE}. */
  private static Initializer lagZeroInit(int lags) {
    float lag0 = (float) Math.log(LAG0_SHARE / (1 - LAG0_SHARE) * 2 * lags);
    return (values, shape, random) -> {
      int width = (int) shape[1];
      for (int i = 0; i < values.length; i++) {
        values[i] = i % width == lags ? lag0 : 0f;
      }
    };
  }

  /**
   * {@code out[..., j] = x[..., j + shift]} along the last axis (of static width {@code d}); indices
   * outside {@code 0..d-1} read zero, or wrap around when {@code circular}. {@code |shift| < d}.
   */
  static Operand<TFloat32> shiftFeatures(Ops tf, Operand<TFloat32> x, int shift, int d, boolean circular) {
    if (shift == 0) {
      return x;
    }
    int s = Math.floorMod(shift, d);
    if (circular) {
      return tf.concat(List.of(lastAxis(tf, x, s, d - s), lastAxis(tf, x, 0, s)), tf.constant(-1));
    }
    if (shift > 0) {
      Operand<TFloat32> kept = lastAxis(tf, x, shift, d - shift);
      return tf.concat(List.of(kept, tf.zerosLike(lastAxis(tf, x, 0, shift))), tf.constant(-1));
    }
    Operand<TFloat32> kept = lastAxis(tf, x, 0, d + shift);
    return tf.concat(List.of(tf.zerosLike(lastAxis(tf, x, 0, -shift)), kept), tf.constant(-1));
  }

  /** {@code x[..., from : from + size]} of a rank-4 tensor. */
  private static Operand<TFloat32> lastAxis(Ops tf, Operand<TFloat32> x, int from, int size) {
    return tf.slice(x, tf.constant(new int[] {0, 0, 0, from}), tf.constant(new int[] {-1, -1, -1, size}));
  }
}
