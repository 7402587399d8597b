package dev.leviathan.core.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TFInvalidArgumentException;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * The fused LayerNorm and bias + GELU kernels against the graph forms and the plain formulas, in value and
 * gradient, by finite differences, and row by row independent. The model built on them is compared with
 * the portable model in {@code dev.leviathan.core.model.NativeLayersModelTest}.
 */
class NativeLayersTest {
  static final int B = 3, T = 5, C = 24;
  static final float EPS = 1e-5f;

  @Test
  void isLoadedWhereTheBuildCompiledIt() {
    assumeTrue(NativeLayers.class.getResource(NativeLayers.RESOURCE) != null, "the build compiled no fused kernel (no gcc)");
    assertTrue(NativeLayers.loaded(), "fused layer kernels not loaded: " + NativeLayers.availability().reason());
  }

  @BeforeEach
  void needsTheKernels() {
    assumeTrue(NativeLayers.loaded(), "fused layer kernels not loaded: " + NativeLayers.availability().reason());
  }

  /** Inputs with a large offset per channel and row, so that a one-pass variance would lose digits. */
  static float[] inputs(long seed, int n, double scale, double offset) {
    Random r = new Random(seed);
    float[] xs = new float[n];
    for (int i = 0; i < n; i++) {
      xs[i] = (float) (scale * r.nextGaussian() + offset * ((i / C) % 7 - 3) + 0.25 * (i % C));
    }
    return xs;
  }

  interface Layer {
    Operand<TFloat32> apply(Ops tf, Operand<TFloat32> x, Operand<TFloat32> gain, Operand<TFloat32> bias);
  }

  /** Values and gradients (x, gain, bias) of a weighted sum of each layer's output at the same inputs. */
  static float[][][] valuesAndGradients(float[] xs, float[] gs, float[] bs, Layer... layers) {
    float[] ws = inputs(11, xs.length, 1, 0);
    float[][][] out = new float[layers.length][][];
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      // unknown batch and time, as in the model
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, C)));
      Operand<TFloat32> gain = tf.constant(gs);
      Operand<TFloat32> bias = tf.constant(bs);
      Operand<TFloat32> w = tf.constant(Shape.of(B, T, C), DataBuffers.of(ws));
      try (Session s = new Session(g);
          TFloat32 xt = TFloat32.tensorOf(Shape.of(B, T, C), DataBuffers.of(xs))) {
        for (int k = 0; k < layers.length; k++) {
          Operand<TFloat32> y = layers[k].apply(tf, x, gain, bias);
          // a weighted sum makes every output's gradient different
          Operand<TFloat32> loss = tf.sum(tf.math.mul(y, w), tf.constant(new int[] {0, 1, 2}));
          var grads = tf.gradients(loss, List.of(x, gain, bias));
          try (Result r = s.runner().feed(x, xt).fetch(y).fetch(grads.dy(0)).fetch(grads.dy(1)).fetch(grads.dy(2)).run()) {
            out[k] = new float[4][];
            for (int i = 0; i < 4; i++) {
              out[k][i] = read((TFloat32) r.get(i));
            }
          }
        }
      }
    }
    return out;
  }

  static void assertClose(float[][] expected, float[][] actual, double tolerance) {
    String[] names = {"value", "d/dx", "d/dgain", "d/dbias"};
    for (int k = 0; k < expected.length; k++) {
      assertEquals(expected[k].length, actual[k].length, names[k]);
      for (int i = 0; i < expected[k].length; i++) {
        assertEquals(expected[k][i], actual[k][i], tolerance * Math.max(1, Math.abs(expected[k][i])),
            names[k] + " element " + i);
      }
    }
  }

  static float[] gains() {
    float[] gs = new float[C];
    for (int i = 0; i < C; i++) {
      gs[i] = 1 + 0.1f * i - 0.02f * i * i;
    }
    return gs;
  }

  static float[] biases() {
    float[] bs = new float[C];
    for (int i = 0; i < C; i++) {
      bs[i] = -0.2f * i + 0.5f;
    }
    return bs;
  }

  @Test
  void layerNormEqualsThePlainFormulaAndTheGraphFormInValueAndGradient() {
    float[] xs = inputs(3, B * T * C, 3, 0);
    float[][][] r = valuesAndGradients(xs, gains(), biases(),
        (tf, x, g, b) -> NativeLayers.layerNorm(tf, x, g, b, EPS),
        (tf, x, g, b) -> LayerNormTest.plain(tf, x, g, b),
        (tf, x, g, b) -> Layers.layerNorm(tf, x, g, b, EPS));
    assertClose(r[1], r[0], 2e-5);
    assertClose(r[2], r[0], 2e-5);
  }

  /**
   * Rows far from zero (mean 300, spread 3): float sums lose digits in every form, so the fused norm is held
   * to the error of the plain formula against a double-precision reference.
   */
  @Test
  void layerNormFarFromZeroIsAsAccurateAsThePlainFormula() {
    float[] xs = inputs(3, B * T * C, 3, 100);
    float[] gs = gains();
    float[] bs = biases();
    float[][][] r = valuesAndGradients(xs, gs, bs,
        (tf, x, g, b) -> NativeLayers.layerNorm(tf, x, g, b, EPS),
        (tf, x, g, b) -> LayerNormTest.plain(tf, x, g, b));
    double fusedError = 0;
    double plainError = 0;
    for (int row = 0; row < xs.length / C; row++) {
      double mean = 0;
      double var = 0;
      for (int i = 0; i < C; i++) {
        mean += xs[row * C + i];
      }
      mean /= C;
      for (int i = 0; i < C; i++) {
        var += (xs[row * C + i] - mean) * (xs[row * C + i] - mean);
      }
      var /= C;
      for (int i = 0; i < C; i++) {
        double y = (xs[row * C + i] - mean) / Math.sqrt(var + EPS) * gs[i] + bs[i];
        fusedError = Math.max(fusedError, Math.abs(r[0][0][row * C + i] - y));
        plainError = Math.max(plainError, Math.abs(r[1][0][row * C + i] - y));
      }
    }
    assertTrue(fusedError <= Math.max(2 * plainError, 2e-5), "fused error " + fusedError + ", plain " + plainError);
  }

  @Test
  void layerNormWithoutBiasEqualsTheGraphForm() {
    float[] xs = inputs(4, B * T * C, 2, 1);
    float[][][] r = valuesAndGradients(xs, gains(), biases(),
        (tf, x, g, b) -> tf.math.add(NativeLayers.layerNorm(tf, x, g, null, EPS), tf.math.mul(b, tf.constant(0f))),
        (tf, x, g, b) -> tf.math.add(Layers.layerNorm(tf, x, g, null, EPS), tf.math.mul(b, tf.constant(0f))));
    assertClose(r[1], r[0], 2e-5);
  }

  /** gelu(x + b) by its definition, with erf from TensorFlow. */
  static Operand<TFloat32> plainBiasGelu(Ops tf, Operand<TFloat32> x, Operand<TFloat32> b) {
    Operand<TFloat32> h = tf.math.add(x, b);
    Operand<TFloat32> phi = tf.math.mul(tf.constant(0.5f),
        tf.math.add(tf.constant(1f), tf.math.erf(tf.math.div(h, tf.constant((float) Math.sqrt(2))))));
    return tf.math.mul(h, phi);
  }

  @Test
  void biasGeluEqualsTheGraphFormInValueAndGradient() {
    // from deep in the negative tail (gelu ~ 0) to the linear part
    float[] xs = inputs(5, B * T * C, 4, 2);
    float[][][] r = valuesAndGradients(xs, gains(), biases(),
        (tf, x, g, b) -> tf.math.mul(NativeLayers.biasGelu(tf, x, b), g),
        (tf, x, g, b) -> tf.math.mul(plainBiasGelu(tf, x, b), g),
        (tf, x, g, b) -> tf.math.mul(Layers.gelu(tf, tf.math.add(x, b)), g));
    assertClose(r[1], r[0], 1e-5);
    assertClose(r[2], r[0], 1e-5);
  }

  @Test
  void biasGeluWithoutBiasIsGelu() {
    float[] xs = inputs(6, B * T * C, 3, 0);
    float[][][] r = valuesAndGradients(xs, gains(), biases(),
        (tf, x, g, b) -> tf.math.add(tf.math.mul(NativeLayers.biasGelu(tf, x, null), g), tf.math.mul(b, tf.constant(0f))),
        (tf, x, g, b) -> tf.math.add(tf.math.mul(Layers.gelu(tf, x), g), tf.math.mul(b, tf.constant(0f))));
    assertClose(r[1], r[0], 1e-5);
  }

  @Test
  void sigmoidGateEqualsTheGraphFormInValueAndGradient() {
    // gates from fully closed to fully open (|q| up to about 100), where sigmoid(q) rounds to 0 or 1 and the
    // graph form's sigmoid(q) (1 - sigmoid(q)) loses digits (the fused gradient takes it from exp(-|q|))
    for (double scale : new double[] {1, 30}) {
      float[] xs = inputs(9, B * T * C, scale, 0);
      float[][][] r = valuesAndGradients(xs, gains(), biases(),
          (tf, x, g, b) -> NativeLayers.sigmoidGate(tf, tf.math.mul(x, g), tf.math.add(x, b)),
          (tf, x, g, b) -> tf.math.mul(tf.math.sigmoid(tf.math.mul(x, g)), tf.math.add(x, b)));
      assertClose(r[1], r[0], scale == 1 ? 1e-5 : 1e-4);
    }
  }

  /** Central differences in double of the weighted sum, against the fused gradients, at a few inputs. */
  @Test
  void gradientsMatchFiniteDifferences() {
    float[] xs = inputs(7, B * T * C, 1.5, 0.5);
    float[] gs = gains();
    float[] bs = biases();
    float[] ws = inputs(11, xs.length, 1, 0);
    float[][][] r = valuesAndGradients(xs, gs, bs,
        (tf, x, g, b) -> NativeLayers.layerNorm(tf, x, g, b, EPS),
        (tf, x, g, b) -> tf.math.mul(NativeLayers.biasGelu(tf, x, b), g));
    double h = 1e-3;
    for (int i : new int[] {0, 7, C + 3, 2 * C * T - 1, xs.length - 1}) {
      double numericLn = (lossLayerNorm(xs, i, h, gs, bs, ws) - lossLayerNorm(xs, i, -h, gs, bs, ws)) / (2 * h);
      double numericGelu = (lossGelu(xs, i, h, gs, bs, ws) - lossGelu(xs, i, -h, gs, bs, ws)) / (2 * h);
      assertEquals(numericLn, r[0][1][i], 2e-3 * Math.max(1, Math.abs(numericLn)), "layer norm d/dx " + i);
      assertEquals(numericGelu, r[1][1][i], 2e-3 * Math.max(1, Math.abs(numericGelu)), "gelu d/dx " + i);
    }
  }

  private static double lossLayerNorm(float[] xs, int at, double h, float[] gs, float[] bs, float[] ws) {
    double sum = 0;
    for (int row = 0; row < xs.length / C; row++) {
      double mean = 0;
      double var = 0;
      for (int i = 0; i < C; i++) {
        mean += xs[row * C + i] + (row * C + i == at ? h : 0);
      }
      mean /= C;
      for (int i = 0; i < C; i++) {
        double d = xs[row * C + i] + (row * C + i == at ? h : 0) - mean;
        var += d * d;
      }
      var /= C;
      for (int i = 0; i < C; i++) {
        double d = xs[row * C + i] + (row * C + i == at ? h : 0) - mean;
        sum += ws[row * C + i] * (d / Math.sqrt(var + EPS) * gs[i] + bs[i]);
      }
    }
    return sum;
  }

  private static double lossGelu(float[] xs, int at, double h, float[] gs, float[] bs, float[] ws) {
    double sum = 0;
    for (int j = 0; j < xs.length; j++) {
      double v = xs[j] + bs[j % C] + (j == at ? h : 0);
      sum += ws[j] * gs[j % C] * v * 0.5 * (1 + org.apache.commons.math3.special.Erf.erf(v / Math.sqrt(2)));
    }
    return sum;
  }

  /** Changing one row leaves every other row's output as it was, bit for bit. */
  @Test
  void rowsAreIndependent() {
    float[] xs = inputs(8, B * T * C, 2, 1);
    float[] changed = xs.clone();
    for (int i = 2 * C; i < 3 * C; i++) {
      changed[i] += 50;
    }
    Layer[] layers = {
        (tf, x, g, b) -> NativeLayers.layerNorm(tf, x, g, b, EPS),
        (tf, x, g, b) -> tf.math.mul(NativeLayers.biasGelu(tf, x, b), g)};
    for (Layer layer : layers) {
      float[] a = valuesAndGradients(xs, gains(), biases(), layer)[0][0];
      float[] c = valuesAndGradients(changed, gains(), biases(), layer)[0][0];
      for (int i = 0; i < a.length; i++) {
        if (i / C != 2) {
          assertEquals(a[i], c[i], 0.0, "element " + i);
        }
      }
    }
  }

  @Test
  void mismatchedShapesAreRefusedWithTheOpName() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1)));
      Operand<TFloat32> y = NativeLayers.layerNorm(tf, x, tf.constant(new float[C]), tf.constant(new float[C]), EPS);
      try (Session s = new Session(g); TFloat32 xt = TFloat32.tensorOf(Shape.of(2, 3, C + 1))) {
        var e = assertThrows(TFInvalidArgumentException.class, () -> s.runner().feed(x, xt).fetch(y).run().close());
        assertTrue(e.getMessage().contains("LeviathanLayerNorm: inputs must be"), e.getMessage());
      }
    }
  }

  private static float[] read(TFloat32 t) {
    float[] out = new float[(int) t.size()];
    t.copyTo(DataBuffers.of(out, false, false));
    return out;
  }
}
