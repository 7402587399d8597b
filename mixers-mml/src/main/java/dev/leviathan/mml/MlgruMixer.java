package dev.leviathan.mml;

import dev.leviathan.core.ops.Layers;
import dev.leviathan.core.ops.NativeLayers;
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
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * {@code mlgru}: the matmul-less linear GRU token mixer (MLGRU, Zhu et al. 2024, arXiv 2406.02528).
 * Every projection is a {@link BitLinear} ({@code BL}); for each token {@code x_t}:
 *
 * <pre>
 *   f_t = sigmoid(BL_f(x_t))                          forget gate
 *   c_t = silu(BL_c(x_t))                             candidate
 *   h_t = f_t ⊙ h_{t-1} + (1 - f_t) ⊙ c_t,  h_{-1} = 0
 *   g_t = sigmoid(BL_g(x_t))                          output gate
 *   y_t = BL_o(g_t ⊙ h_t)
 * </pre>
 *
 * The recurrence is element-wise, so all positions are computed at once by a chunked scan, with no
 * graph loop over time. With {@code a_t = f_t} and {@code u_t = (1 - f_t) ⊙ c_t}, inside a chunk of
 * {@code c} positions
 *
 * <pre>
 *   h_t = sum_{s <= t} exp(S[t, s]) ⊙ u_s + exp(A_t) ⊙ H_prev,   S[t, s] = sum_{s < r <= t} log a_r,
 *   A_t = sum_{r <= t} log a_r                         (sums within the chunk)
 * </pre>
 *
 * where {@code H_prev} is the state at the end of the previous chunk. {@code S} is built as the sums of
 * {@code log a} over exactly the segment {@code s < r <= t} (one product with a constant 0/1 matrix,
 * so the entries above the diagonal are {@code exp(0)} times a zero mask, and every factor is
 * {@code <= 1}), and {@code A} as a product with the lower-triangular matrix of ones: matrix products
 * instead of TensorFlow's {@code Cumsum}, whose CPU kernel was 35% of an mlgru training step; it is never
 * formed as a difference {@code A_t - A_s}, which would cancel catastrophically in float32 once a chunk
 * holds gates near 1e-6 ({@code log f ≈ -13.8}) followed by gates near 1. {@code log f = -softplus(-z)}
 * and {@code 1 - f = sigmoid(-z)} are taken from the pre-activation {@code z} directly, so gates anywhere
 * in {@code [1e-6, 1 - 1e-6]} keep full relative precision. The chunk-end states obey the same
 * recurrence one level up ({@code H_n = exp(A_end,n) ⊙ H_{n-1} + h_end,n}) and are scanned by the
 * same method; the number of levels is fixed by the model's context ({@code ceil(log_c(context))}),
 * so it is static although {@code T} is dynamic ({@code T} is padded with {@code a = 1, u = 0} to a
 * multiple of the chunk at each level). Memory is {@code O(T c C)}.
 *
 * <p>Where the fused kernel is loaded ({@link NativeMml}; not in a portable graph) the recurrence is that
 * one op and its gradient, O(T C), instead of the chunked scan.
 *
 * <p>Options: {@code heads} splits the channels into heads for the scan layout only (the
 * recurrence is per channel, so the result does not depend on it); {@code quantize} switches every
 * BitLinear to full precision for the ablation; {@code chunk} is the scan's block length. For
 * generation, {@link RecurrentTokenMixer#step} runs the recurrence one position at a time with the
 * state {@code h} ({@code [B, C]}).
 */
public final class MlgruMixer implements TokenMixerProvider, TernaryExport {
  private final boolean graphOnly;

  /** The provider found by the registry: the fused recurrence ({@link NativeMml}) where it is loaded. */
  public MlgruMixer() {
    this(false);
  }

  /** A provider that always builds the chunked scan when {@code graphOnly} (tests compare the two). */
  MlgruMixer(boolean graphOnly) {
    this.graphOnly = graphOnly;
  }

  @Override
  public String name() {
    return "mlgru";
  }

  @Override
  public String description() {
    return "matmul-less linear GRU (MLGRU) with ternary BitLinear projections, chunked parallel scan";
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
        OptionSpec.integer("heads", 4, 1, "number of heads; must divide the width (a reshape only)"),
        OptionSpec.bool("quantize", true, "ternary weights and 8-bit activations; off = full-precision ablation"),
        OptionSpec.integer("chunk", 8, 1, "block length of the parallel scan (memory O(T * chunk * C))"));
  }

  @Override
  public TokenMixer create(LayerContext layer, MixerOptions options) {
    int c = layer.width();
    int heads = options.heads("heads", c);
    boolean quantize = options.getBool("quantize");
    int chunk = options.getInt("chunk");
    Ops tf = layer.tf();
    BitLinear forget = new BitLinear(tf, layer.params(), "f", c, c, quantize, false);
    BitLinear candidate = new BitLinear(tf, layer.params(), "c", c, c, quantize, false);
    BitLinear gate = new BitLinear(tf, layer.params(), "g", c, c, quantize, false);
    BitLinear output = new BitLinear(tf, layer.params(), "o", c, c, quantize, true);
    boolean fused = !graphOnly && !layer.portable() && NativeMml.loaded();
    return new Mlgru(tf, c, heads, chunk, layer.context(), forget, candidate, gate, output, fused);
  }

  private static final class Mlgru implements RecurrentTokenMixer {
    private final Ops tf;
    private final int width;
    private final int heads;
    private final int chunk;
    private final int context;
    private final BitLinear forget;
    private final BitLinear candidate;
    private final BitLinear gate;
    private final BitLinear output;
    /** The recurrence as the fused op instead of the chunked scan. */
    private final boolean fused;

    Mlgru(Ops tf, int width, int heads, int chunk, int context,
        BitLinear forget, BitLinear candidate, BitLinear gate, BitLinear output, boolean fused) {
      this.tf = tf;
      this.width = width;
      this.heads = heads;
      this.chunk = chunk;
      this.context = context;
      this.forget = forget;
      this.candidate = candidate;
      this.gate = gate;
      this.output = output;
      this.fused = fused;
    }

    @Override
    public Operand<TFloat32> apply(Operand<TFloat32> x) {
      return gated(x, hidden(x));
    }

    @Override
    public Step prefill(Operand<TFloat32> x) {
      Operand<TFloat32> h = hidden(x);
      Operand<TInt32> last = tf.math.sub(Layers.dim(tf, x, 1), tf.constant(1));
      Operand<TFloat32> hLast = tf.reshape(
          tf.slice(h, tf.stack(List.of(tf.constant(0), last, tf.constant(0))), tf.constant(new int[] {-1, 1, -1})),
          tf.constant(new int[] {-1, width}));
      return new Step(gated(x, h), List.of(hLast));
    }

    @Override
    public Step step(Operand<TFloat32> xt, Operand<TInt32> position, List<Operand<TFloat32>> state) {
      if (state.size() != 1) {
        throw new IllegalArgumentException("mlgru carries one state tensor (h), got " + state.size());
      }
      // the fed state has no static shape: give it [B, C] so the projections below see rank 2
      Operand<TFloat32> previous = tf.reshape(state.get(0), tf.constant(new int[] {-1, width}));
      Operand<TFloat32> z = forget.apply(xt);
      Operand<TFloat32> f = tf.math.sigmoid(z);
      Operand<TFloat32> oneMinusF = tf.math.sigmoid(tf.math.neg(z));
      Operand<TFloat32> h = tf.math.add(
          tf.math.mul(f, previous), tf.math.mul(oneMinusF, Layers.silu(tf, candidate.apply(xt))));
      return new Step(gated(xt, h), List.of(h));
    }

    /** {@code o_t = W_o (sigmoid(W_g x_t) ⊙ h_t)}, the gate as core's fused kernel with the fused recurrence. */
    private Operand<TFloat32> gated(Operand<TFloat32> x, Operand<TFloat32> h) {
      Operand<TFloat32> g = gate.apply(x);
      return output.apply(fused && NativeLayers.loaded() ? NativeLayers.sigmoidGate(tf, g, h)
          : tf.math.mul(tf.math.sigmoid(g), h));
    }

    /** The hidden states {@code h [B, T, C]} of the whole sequence, by the chunked scan. */
    private Operand<TFloat32> hidden(Operand<TFloat32> x) {
      Operand<TFloat32> z = forget.apply(x);
      Operand<TFloat32> logDecay = logSigmoid(z);
      Operand<TFloat32> input = tf.math.mul(tf.math.sigmoid(tf.math.neg(z)), Layers.silu(tf, candidate.apply(x)));
      if (fused) {
        return NativeMml.linearScan(tf, logDecay, input);
      }
      int d = width / heads;
      Operand<TInt32> b = Layers.dim(tf, x, 0);
      Operand<TInt32> t = Layers.dim(tf, x, 1);
      // [B, T, C] -> [B*H, T, D]: heads are only a layout of the channels.
      Operand<TInt32> flatShape = tf.stack(List.of(tf.constant(-1), t, tf.constant(d)));
      Operand<TFloat32> h = scan(
          tf.reshape(Layers.splitHeads(tf, logDecay, heads), flatShape),
          tf.reshape(Layers.splitHeads(tf, input, heads), flatShape),
          context, chunk, d);
      h = tf.linalg.transpose(
          tf.reshape(h, tf.stack(List.of(b, tf.constant(heads), t, tf.constant(d)))), tf.constant(new int[] {0, 2, 1, 3}));
      return tf.reshape(h, tf.stack(List.of(b, t, tf.constant(width))));
    }

    /** {@code log sigmoid(z) = -softplus(-z)}, accurate for gates near 0 and near 1. */
    private Operand<TFloat32> logSigmoid(Operand<TFloat32> z) {
      return tf.math.neg(tf.math.softplus(tf.math.neg(z)));
    }

    /**
     * {@code h_t = exp(logA_t) ⊙ h_{t-1} + u_t}, {@code h_{-1} = 0}, along axis 1 of {@code [M, T, d]}
     * tensors whose {@code T} is at most {@code maxLength}: one block when {@code maxLength <= block},
     * otherwise blocks of {@code block} positions whose end states are scanned recursively.
     */
    private Operand<TFloat32> scan(
        Operand<TFloat32> logA, Operand<TFloat32> u, int maxLength, int block, int d) {
      if (maxLength <= block) {
        return blockScan(logA, u);
      }
      Operand<TInt32> m = Layers.dim(tf, logA, 0);
      Operand<TInt32> t = Layers.dim(tf, logA, 1);
      Operand<TInt32> size = tf.constant(block);
      Operand<TInt32> n = tf.math.floorDiv(tf.math.add(t, tf.constant(block - 1)), size);
      Operand<TInt32> pad = tf.math.sub(tf.math.mul(n, size), t);
      Operand<TInt32> zero = tf.constant(0);
      Operand<TInt32> paddings = tf.reshape(
          tf.stack(List.of(zero, zero, zero, pad, zero, zero)), tf.constant(new int[] {3, 2}));
      Operand<TInt32> blocked = tf.constant(new int[] {-1, block, d});
      // Padding: a = 1 (log a = 0) and u = 0 after the last position; sliced off at the end.
      Operand<TFloat32> la = tf.reshape(tf.pad(logA, paddings, tf.constant(0f)), blocked);
      Operand<TFloat32> ub = tf.reshape(tf.pad(u, paddings, tf.constant(0f)), blocked);
      Operand<TFloat32> local = blockScan(la, ub);
      Operand<TFloat32> cumulative = tf.train.batchMatMul(tf.constant(new float[][][] {lowerOnes(block)}), la, TFloat32.class);
      Operand<TInt32> carriedShape = tf.stack(List.of(m, n, tf.constant(d)));
      Operand<TFloat32> endLog = tf.reshape(last(cumulative, block, d), carriedShape);
      Operand<TFloat32> endState = tf.reshape(last(local, block, d), carriedShape);
      int nextBlock = Math.max(block, 2);
      Operand<TFloat32> ends = scan(endLog, endState, (maxLength + block - 1) / block, nextBlock, d);
      // State entering block k is the end state of block k-1 (zero for the first block).
      Operand<TFloat32> entering = tf.slice(
          tf.pad(ends, tf.constant(new int[][] {{0, 0}, {1, 0}, {0, 0}}), tf.constant(0f)),
          tf.constant(new int[] {0, 0, 0}),
          tf.stack(List.of(tf.constant(-1), n, tf.constant(-1))));
      entering = tf.reshape(entering, tf.constant(new int[] {-1, 1, d}));
      Operand<TFloat32> h = tf.math.add(local, tf.math.mul(tf.math.exp(cumulative), entering));
      h = tf.reshape(h, tf.stack(List.of(m, tf.math.mul(n, size), tf.constant(d))));
      return tf.slice(h, tf.constant(new int[] {0, 0, 0}), tf.stack(List.of(tf.constant(-1), t, tf.constant(-1))));
    }

    /** Position {@code block - 1} of {@code [P, block, d]}, as {@code [P, 1, d]}. */
    private Operand<TFloat32> last(Operand<TFloat32> x, int block, int d) {
      return tf.slice(x, tf.constant(new int[] {0, block - 1, 0}), tf.constant(new int[] {-1, 1, d}));
    }

    /**
     * Blocks of {@code T} positions ({@code [P, T, d]}, T dynamic: a chunk, or at the last level of the
     * scan as many as are left, more than a chunk only for sequences longer than the context) from a
     * zero state: {@code h_t = sum_{s <= t} exp(S[t, s]) u_s} with {@code S[t, s] = sum_{s < r <= t} logA_r}.
     * {@code S} is one product of {@code logA} with the 0/1 matrix {@code [s < r <= t]}
     * ({@code [T * T, T]}, built from index comparisons): only the terms of the segment enter each sum.
     */
    private Operand<TFloat32> blockScan(Operand<TFloat32> logA, Operand<TFloat32> u) {
      Operand<TInt32> t = Layers.dim(tf, logA, 1);
      Operand<TInt32> index = tf.range(tf.constant(0), t, tf.constant(1));
      Operand<TInt32> rows = tf.reshape(index, tf.constant(new int[] {-1, 1, 1})); // t
      Operand<TInt32> columns = tf.reshape(index, tf.constant(new int[] {1, -1, 1})); // s
      Operand<TInt32> terms = tf.reshape(index, tf.constant(new int[] {1, 1, -1})); // r
      Operand<TFloat32> segments = tf.dtypes.cast(
          tf.math.logicalAnd(tf.math.lessEqual(terms, rows), tf.math.greater(terms, columns)), TFloat32.class);
      Operand<TInt32> d = tf.constant(width / heads);
      Operand<TFloat32> segment = tf.reshape(
          tf.train.batchMatMul(tf.reshape(segments, tf.stack(List.of(tf.constant(1), tf.math.mul(t, t), t))), logA,
              TFloat32.class),
          tf.stack(List.of(tf.constant(-1), t, t, d)));
      Operand<TFloat32> mask = tf.dtypes.cast(tf.math.lessEqual(columns, rows), TFloat32.class); // [T, T, 1]
      Operand<TFloat32> decay = tf.math.mul(tf.math.exp(segment), mask);
      return tf.sum(tf.math.mul(decay, tf.expandDims(u, tf.constant(1))), tf.constant(2));
    }

    /** The {@code [n, n]} lower-triangular matrix of ones (diagonal included): prefix sums as a product. */
    private static float[][] lowerOnes(int n) {
      float[][] m = new float[n][n];
      for (int i = 0; i < n; i++) {
        for (int j = 0; j <= i; j++) {
          m[i][j] = 1f;
        }
      }
      return m;
    }
  }
}
