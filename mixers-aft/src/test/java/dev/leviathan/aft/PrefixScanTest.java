package dev.leviathan.aft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/** {@link AftOps#prefixScan}'s rotated shifts give bit for bit the sums and gradients of zero-filled shifts. */
class PrefixScanTest {
  static final int B = 2, T = 13, C = 5, CONTEXT = 16;

  /** The same scan with every shift a Pad with 0 and a Slice. */
  static Operand<TFloat32> zeroFilled(Ops tf, Operand<TFloat32> k, Operand<TFloat32> v) {
    Operand<TFloat32> m = AftOps.runningMax(tf, k, CONTEXT);
    Operand<TFloat32> a = tf.stopGradient(tf.math.exp(tf.math.sub(AftOps.delay(tf, m, 1, AftOps.NEG), m)));
    Operand<TFloat32> sums = AftOps.terms(tf, k, m, v);
    int levels = AftOps.levels(CONTEXT);
    for (int i = 0; i < levels; i++) {
      sums = tf.math.add(sums, tf.math.mul(a, AftOps.delay(tf, sums, 1 << i, 0f)));
      a = tf.math.mul(a, AftOps.delay(tf, a, 1 << i, 0f));
    }
    return sums;
  }

  @Test
  void rotatedShiftsEqualZeroFilledShiftsBitForBitInValueAndGradient() {
    Random rnd = new Random(8);
    float[] ks = new float[B * T * C];
    float[] vs = new float[B * T * C];
    float[] ws = new float[B * T * 2 * C];
    for (int i = 0; i < ks.length; i++) {
      // keys spread over 300 nats, some rising to a new maximum late in the sequence
      ks[i] = (float) (150 * rnd.nextGaussian());
      vs[i] = (float) rnd.nextGaussian();
    }
    for (int i = 0; i < ws.length; i++) {
      ws[i] = (float) rnd.nextGaussian();
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> k = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, 1, C)));
      Placeholder<TFloat32> v = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, 1, C)));
      Operand<TFloat32> w = tf.constant(Shape.of(B, T, 2, C), DataBuffers.of(ws));
      Operand<TFloat32> rotated = AftOps.prefixScan(tf, k, v, CONTEXT).sums();
      Operand<TFloat32> filled = zeroFilled(tf, k, v);
      var gr = tf.gradients(tf.sum(tf.math.mul(rotated, w), tf.constant(new int[] {0, 1, 2, 3})), List.of(k, v));
      var gf = tf.gradients(tf.sum(tf.math.mul(filled, w), tf.constant(new int[] {0, 1, 2, 3})), List.of(k, v));
      try (Session s = new Session(g);
          TFloat32 kt = TFloat32.tensorOf(Shape.of(B, T, 1, C), DataBuffers.of(ks));
          TFloat32 vt = TFloat32.tensorOf(Shape.of(B, T, 1, C), DataBuffers.of(vs));
          Result r = s.runner().feed(k, kt).feed(v, vt).fetch(rotated).fetch(filled)
              .fetch(gr.dy(0)).fetch(gf.dy(0)).fetch(gr.dy(1)).fetch(gf.dy(1)).run()) {
        for (int i = 0; i < 6; i += 2) {
          float[] a = read((TFloat32) r.get(i));
          float[] b = read((TFloat32) r.get(i + 1));
          assertArrayEquals(b, a, 0f, "output " + i);
          for (float x : a) {
            assertTrue(Float.isFinite(x), "output " + i + " finite");
          }
        }
      }
    }
  }

  private static float[] read(TFloat32 t) {
    float[] out = new float[(int) t.size()];
    t.copyTo(DataBuffers.of(out, false, false));
    return out;
  }
}
