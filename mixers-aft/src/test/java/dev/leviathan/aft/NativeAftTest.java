package dev.leviathan.aft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.exceptions.TFInvalidArgumentException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * The fused AFT kernels ({@link NativeAft}) against the graph forms of the same sums ({@link DyadicMix},
 * {@link AftOps#prefixScan}): outputs and gradients of keys, values and weights, keys spread far beyond
 * exp's float range, sequences shorter than the weights, causality bit for bit, and a clear error for
 * bad shapes.
 */
class NativeAftTest {
  @Test
  void isLoadedWhereTheBuildCompiledIt() {
    assumeTrue(NativeAft.class.getResource(NativeAft.RESOURCE) != null, "the build compiled no fused kernel (no gcc)");
    assertTrue(NativeAft.loaded(), "fused AFT kernel not loaded: " + NativeAft.availability().reason());
  }

  @Test
  void sumsAndGradientsEqualTheGraphForm() {
    assumeTrue(NativeAft.loaded(), NativeAft.availability().reason());
    Random rnd = new Random(11);
    int[][] cases = {{3, 13, 16, 5}, {2, 16, 16, 8}, {1, 1, 4, 3}, {2, 7, 7, 17}, {2, 37, 40, 6}};
    for (int[] k : cases) {
      Data d = Data.random(rnd, k[0], k[1], k[2], k[3], 1.0);
      compare(d, 2e-5, 2e-4);
      // keys spread over about 300 nats, far beyond exp's float range
      Data wide = Data.random(rnd, k[0], k[1], k[2], k[3], 60.0);
      compare(wide, 2e-5, 2e-4);
    }
  }

  /** The gated scan on {@code concat(q, k, v)} against {@code sigmoid(q) ⊙} the graph's prefix scan. */
  @Test
  void scanSumsAndGradientsEqualTheGraphForm() {
    assumeTrue(NativeAft.loaded(), NativeAft.availability().reason());
    Random rnd = new Random(14);
    int[][] cases = {{3, 13, 5}, {2, 64, 16}, {1, 1, 3}, {2, 7, 17}};
    for (int[] k : cases) {
      for (double keyStd : new double[] {1.0, 60.0}) {
        Data d = Data.random(rnd, k[0], k[1], k[1], k[2], keyStd);
        float[] q = gates(rnd, d);
        List<float[]> fused = runScan(d, q, true);
        List<float[]> graph = runScan(d, q, false);
        String[] names = {"output", "q's gradient", "keys' gradient", "values' gradient"};
        for (int i = 0; i < names.length; i++) {
          assertClose(graph.get(i), fused.get(i), i == 0 ? 2e-5 : 2e-4,
              "scan " + names[i] + " of " + d.b + "x" + d.t + "x" + d.c + " (keys' spread " + keyStd + ")");
        }
      }
    }
  }

  @Test
  void scanIsCausalBitForBit() {
    assumeTrue(NativeAft.loaded(), NativeAft.availability().reason());
    assertCausal(d -> runScan(d, d.r, true).get(0), new Random(15));
  }

  @Test
  void isCausalBitForBit() {
    assumeTrue(NativeAft.loaded(), NativeAft.availability().reason());
    assertCausal(d -> run(d, true).get(0), new Random(12));
  }

  /** Outputs at positions up to each cut are bit for bit the same when every later key and value changes. */
  private static void assertCausal(Function<Data, float[]> output, Random rnd) {
    Data d = Data.random(rnd, 2, 12, 12, 6, 3.0);
    float[] base = output.apply(d);
    for (int cut = 0; cut < d.t - 1; cut++) {
      float[] y = output.apply(laterChanged(d, cut, rnd));
      for (int b = 0; b < d.b; b++) {
        for (int t = 0; t <= cut; t++) {
          for (int c = 0; c < d.c; c++) {
            int i = (b * d.t + t) * d.c + c;
            assertEquals(Float.floatToIntBits(base[i]), Float.floatToIntBits(y[i]),
                "output at position " + t + " changed when inputs after position " + cut + " changed");
          }
        }
      }
    }
  }

  /** {@code d} with new keys and values after position {@code cut}: keys far above every earlier one. */
  private static Data laterChanged(Data d, int cut, Random rnd) {
    Data changed = d.copy();
    for (int b = 0; b < d.b; b++) {
      for (int t = cut + 1; t < d.t; t++) {
        for (int c = 0; c < d.c; c++) {
          changed.k[(b * d.t + t) * d.c + c] = (float) (rnd.nextGaussian() * 3 + 40);
          changed.v[(b * d.t + t) * d.c + c] = (float) rnd.nextGaussian();
        }
      }
    }
    return changed;
  }

  /**
   * The gated mix on the projection's qkv as it is equals the split path: {@code sigmoid(q) ⊙} the plain fused
   * op's ratio, with the gradients of q, k, v (through the one qkv input) and of the weights.
   */
  @Test
  void gatedMixEqualsTheSplitForm() {
    assumeTrue(NativeAft.loaded(), NativeAft.availability().reason());
    Random rnd = new Random(16);
    int[][] cases = {{3, 13, 16, 5}, {2, 64, 64, 16}, {1, 1, 4, 3}, {2, 7, 7, 17}};
    for (int[] k : cases) {
      for (double keyStd : new double[] {1.0, 60.0}) {
        Data d = Data.random(rnd, k[0], k[1], k[2], k[3], keyStd);
        float[] q = gates(rnd, d);
        List<float[]> split = runGatedMix(d, q, false);
        List<float[]> gated = runGatedMix(d, q, true);
        String[] names = {"output", "q's gradient", "keys' gradient", "values' gradient", "weights' gradient"};
        for (int i = 0; i < names.length; i++) {
          assertClose(split.get(i), gated.get(i), i == 0 ? 1e-6 : 2e-5, "gated mix " + names[i]
              + " of " + d.b + "x" + d.t + "x" + d.c + " (keys' spread " + keyStd + ")");
        }
      }
    }
  }

  @Test
  void gatedMixIsCausalBitForBit() {
    assumeTrue(NativeAft.loaded(), NativeAft.availability().reason());
    assertCausal(d -> runGatedMix(d, d.r, true).get(0), new Random(17));
  }

  /**
   * The kernels split a batch over threads of their own, with each part's scratch and weight sums apart: calls
   * from several threads at once, each in its own session, give the numbers of a call alone, bit for bit,
   * values and gradients.
   */
  @Test
  void callsFromManyThreadsAtOnceGiveTheNumbersOfOneCall() throws Exception {
    assumeTrue(NativeAft.loaded(), NativeAft.availability().reason());
    Random rnd = new Random(18);
    Data d = Data.random(rnd, 6, 32, 32, 24, 3.0);
    float[] q = gates(rnd, d);
    List<float[]> alone = runGatedMix(d, q, true);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<List<float[]>>> runs = new ArrayList<>();
      for (int i = 0; i < 24; i++) {
        runs.add(pool.submit(() -> runGatedMix(d, q, true)));
      }
      for (var run : runs) {
        List<float[]> out = run.get();
        for (int i = 0; i < alone.size(); i++) {
          assertTrue(Arrays.equals(alone.get(i), out.get(i)), "output " + i + " differs from a call alone");
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** Gate inputs q of {@code d}'s shape, spread over sigmoid's flat ends too. */
  private static float[] gates(Random rnd, Data d) {
    float[] q = new float[d.k.length];
    for (int i = 0; i < q.length; i++) {
      q[i] = (float) (rnd.nextGaussian() * 4);
    }
    return q;
  }

  @Test
  void rejectsWeightsShorterThanTheSequence() {
    assumeTrue(NativeAft.loaded(), NativeAft.availability().reason());
    Data d = Data.random(new Random(13), 1, 6, 4, 2, 1.0);
    TFInvalidArgumentException e = assertThrows(TFInvalidArgumentException.class, () -> run(d, true));
    assertTrue(e.getMessage().contains("weights must be [N, N] with N >= time"), e.getMessage());
  }

  private static void compare(Data d, double valueTolerance, double gradientTolerance) {
    List<float[]> fused = run(d, true);
    List<float[]> graph = run(d, false);
    String[] names = {"output", "keys' gradient", "values' gradient", "weights' gradient"};
    for (int i = 0; i < names.length; i++) {
      assertClose(graph.get(i), fused.get(i), i == 0 ? valueTolerance : gradientTolerance,
          names[i] + " of " + d.b + "x" + d.t + "x" + d.c + " (weights " + d.n + ")");
    }
  }

  private static void assertClose(float[] expected, float[] actual, double tolerance, String what) {
    assertEquals(expected.length, actual.length, what);
    for (int i = 0; i < expected.length; i++) {
      assertTrue(Float.isFinite(actual[i]), what + " at " + i + ": " + actual[i]);
      double scale = Math.max(1.0, Math.abs(expected[i]));
      assertTrue(Math.abs(expected[i] - actual[i]) <= tolerance * scale,
          what + " at " + i + ": expected " + expected[i] + " but was " + actual[i]);
    }
  }

  /** Output y and the gradients of sum(y ⊙ r) for keys, values and weights, by the fused or the graph form. */
  private static List<float[]> run(Data d, boolean fused) {
    return outputAndGradients(d, (tf, in) -> fused ? NativeAft.ratio(tf, in.get(0), in.get(1), in.get(2))
        : new DyadicMix(tf, in.get(2), d.n).ratio(in.get(0), in.get(1), d.n), d.k, d.v, d.e);
  }

  /**
   * {@code sigmoid(q) ⊙ ratio} of aft-simple's running sums and the gradients of {@code sum(y ⊙ r)} for q, k and
   * v: by the gated scan on {@code concat(q, k, v)}, or by the graph's prefix scan and a graph gate.
   */
  private static List<float[]> runScan(Data d, float[] qValues, boolean fused) {
    return outputAndGradients(d, (tf, in) -> {
      Operand<TFloat32> q = in.get(0), k = in.get(1), v = in.get(2);
      if (fused) {
        return NativeAft.gatedScanRatio(tf, tf.concat(List.of(q, k, v), tf.constant(-1)), d.c);
      }
      AftOps.Prefix prefix = AftOps.prefixScan(tf, AftOps.splitLast(tf, k, 1, d.c), AftOps.splitLast(tf, v, 1, d.c),
          d.n);
      return tf.math.mul(tf.math.sigmoid(q), tf.reshape(AftOps.ratio(tf, prefix.sums(), 1, -2), tf.shape(k)));
    }, qValues, d.k, d.v);
  }

  /**
   * {@code sigmoid(q) ⊙ ratio} of the mix and the gradients of {@code sum(y ⊙ r)} for q, k, v and e: by the
   * gated op on {@code concat(q, k, v)}, or by the plain fused op on k and v and a graph gate.
   */
  private static List<float[]> runGatedMix(Data d, float[] qValues, boolean gated) {
    return outputAndGradients(d, (tf, in) -> gated
        ? NativeAft.gatedRatio(tf, tf.concat(List.of(in.get(0), in.get(1), in.get(2)), tf.constant(-1)), in.get(3), d.c)
        : tf.math.mul(tf.math.sigmoid(in.get(0)), NativeAft.ratio(tf, in.get(1), in.get(2), in.get(3))),
        qValues, d.k, d.v, d.e);
  }

  /**
   * {@code y = form(inputs)} and the gradients of {@code sum(y ⊙ d.r)} for every input, in their order. {@code d.e}
   * is fed as the weights {@code [n, n]}; every other input as a sequence tensor {@code [b, t, c]}, through a
   * placeholder of unknown batch and time.
   */
  private static List<float[]> outputAndGradients(Data d,
      BiFunction<Ops, List<Operand<TFloat32>>, Operand<TFloat32>> form, float[]... inputs) {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      List<Operand<TFloat32>> in = new ArrayList<>();
      Output<?>[] wrt = new Output<?>[inputs.length];
      for (int i = 0; i < inputs.length; i++) {
        Shape shape = inputs[i] == d.e ? Shape.of(d.n, d.n) : Shape.of(-1, -1, d.c);
        Placeholder<TFloat32> p = tf.placeholder(TFloat32.class, Placeholder.shape(shape));
        in.add(p);
        wrt[i] = p.asOutput();
      }
      Placeholder<TFloat32> r = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, d.c)));
      Operand<TFloat32> y = form.apply(tf, in);
      Operand<TFloat32> loss = tf.sum(tf.math.mul(y, r), tf.constant(new int[] {0, 1, 2}));
      Output<?>[] grads = g.addGradients(loss.asOutput(), wrt);
      List<TFloat32> fed = new ArrayList<>();
      try {
        Session.Runner runner = s.runner();
        for (int i = 0; i < inputs.length; i++) {
          fed.add(inputs[i] == d.e ? TFloat32.tensorOf(Shape.of(d.n, d.n), DataBuffers.of(d.e, true, false))
              : tensor(inputs[i], d.b, d.t, d.c));
          runner.feed(in.get(i), fed.get(i));
        }
        fed.add(tensor(d.r, d.b, d.t, d.c));
        runner.feed(r, fed.get(inputs.length)).fetch(y);
        for (Output<?> grad : grads) {
          runner.fetch(grad);
        }
        try (Result res = runner.run()) {
          List<float[]> out = new ArrayList<>();
          for (int i = 0; i <= inputs.length; i++) {
            out.add(values((TFloat32) res.get(i)));
          }
          return out;
        }
      } finally {
        fed.forEach(TFloat32::close);
      }
    }
  }

  private static TFloat32 tensor(float[] x, int b, int t, int c) {
    return TFloat32.tensorOf(Shape.of(b, t, c), DataBuffers.of(x, true, false));
  }

  private static float[] values(Tensor t) {
    float[] out = new float[(int) t.shape().size()];
    ((TFloat32) t).copyTo(DataBuffers.of(out, false, false));
    return out;
  }

  /** Keys, values, upstream gradient {@code [b, t, c]} and lower-triangular weights {@code [n, n]}. */
  private record Data(int b, int t, int n, int c, float[] k, float[] v, float[] e, float[] r) {
    static Data random(Random rnd, int b, int t, int n, int c, double keyStd) {
      float[] k = new float[b * t * c];
      float[] v = new float[b * t * c];
      float[] r = new float[b * t * c];
      for (int i = 0; i < k.length; i++) {
        k[i] = (float) (rnd.nextGaussian() * keyStd);
        v[i] = (float) rnd.nextGaussian();
        r[i] = (float) rnd.nextGaussian();
      }
      float[] e = new float[n * n];
      for (int i = 0; i < n; i++) {
        for (int j = 0; j <= i; j++) {
          // entries in (0, 1], the diagonal 1 (as exp(w - rowmax) has somewhere); with keys of unit spread also
          // a few exact zeros (with wide keys a row whose only large key has weight 0 sums to 0 / 0 in both forms)
          boolean zero = keyStd <= 1 && rnd.nextInt(7) == 0;
          e[i * n + j] = i == j ? 1f : zero ? 0f : (float) Math.exp(-3 * rnd.nextDouble());
        }
      }
      return new Data(b, t, n, c, k, v, e, r);
    }

    Data copy() {
      return new Data(b, t, n, c, k.clone(), v.clone(), e.clone(), r.clone());
    }
  }
}
