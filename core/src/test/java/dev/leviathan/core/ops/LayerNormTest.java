package dev.leviathan.core.ops;

import org.junit.jupiter.api.Test;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.math.Mean;
import org.tensorflow.types.TFloat32;

/**
 * {@link Layers#layerNorm} (the graph form, TensorFlow's fused batch norm) against the plain mean/variance
 * formula, values and gradients, on {@link NativeLayersTest}'s harness (which does not need the native kernels).
 */
class LayerNormTest {
  static final float EPS = 1e-5f;

  static Operand<TFloat32> plain(Ops tf, Operand<TFloat32> x, Operand<TFloat32> gain, Operand<TFloat32> bias) {
    Operand<TFloat32> mean = tf.math.mean(x, tf.constant(-1), Mean.keepDims(true));
    Operand<TFloat32> centred = tf.math.sub(x, mean);
    Operand<TFloat32> var = tf.math.mean(tf.math.square(centred), tf.constant(-1), Mean.keepDims(true));
    return tf.math.add(tf.math.mul(tf.math.mul(centred, tf.math.rsqrt(tf.math.add(var, tf.constant(EPS)))), gain), bias);
  }

  @Test
  void graphLayerNormEqualsThePlainFormulaInValueAndGradient() {
    float[] xs = NativeLayersTest.inputs(3, NativeLayersTest.B * NativeLayersTest.T * NativeLayersTest.C, 3, 0);
    float[][][] r = NativeLayersTest.valuesAndGradients(xs, NativeLayersTest.gains(), NativeLayersTest.biases(),
        (tf, x, g, b) -> Layers.layerNorm(tf, x, g, b, EPS),
        LayerNormTest::plain);
    NativeLayersTest.assertClose(r[1], r[0], 2e-5);
  }
}
