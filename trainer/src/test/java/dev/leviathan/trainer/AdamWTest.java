package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.leviathan.core.model.Gradients;
import dev.leviathan.core.model.Parameter;
import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.core.spi.Initializer;
import dev.leviathan.core.spi.Parameters;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GraphOptions;
import org.tensorflow.proto.RewriterConfig;
import org.tensorflow.types.TFloat32;

class AdamWTest {
  /**
   * Loss = 3 w^2 + 2 b on two scalars: w is decayed (a "matrix"), b is not (a "bias"). Three steps of
   * AdamW are compared with the update computed by hand in double precision.
   */
  @Test
  void matchesHandComputedUpdateOnTwoParameterToy() {
    double[] got = run(100.0);
    double[] want = hand(100.0);
    assertEquals(want[0], got[0], 1e-6);
    assertEquals(want[1], got[1], 1e-6);
  }

  @Test
  void clipsTheGlobalGradientNorm() {
    double[] got = run(0.5);
    double[] want = hand(0.5);
    assertEquals(want[0], got[0], 1e-6);
    assertEquals(want[1], got[1], 1e-6);
  }

  /**
   * The moment initialisers must not read the moments they initialise: with Grappler switched off nothing folds
   * such a read away, and it fails on a variable that has no value yet.
   */
  @Test
  void initialisesAndStepsWithoutGraphRewriting() {
    ConfigProto plain = ConfigProto.newBuilder().setGraphOptions(GraphOptions.newBuilder()
        .setRewriteOptions(RewriterConfig.newBuilder().setDisableMetaOptimizer(true))).build();
    double[] got = run(0.5, plain);
    double[] want = hand(0.5);
    assertEquals(want[0], got[0], 1e-6);
    assertEquals(want[1], got[1], 1e-6);
  }

  static final double LR = 0.1, B1 = 0.9, B2 = 0.99, EPS = 1e-8, WD = 0.5;

  static double[] hand(double clip) {
    double w = 0.7, b = -0.4, mw = 0, vw = 0, mb = 0, vb = 0;
    for (int t = 1; t <= 3; t++) {
      double gw = 6 * w, gb = 2;
      double norm = Math.sqrt(gw * gw + gb * gb);
      double scale = clip / Math.max(norm, clip);
      gw *= scale;
      gb *= scale;
      mw = B1 * mw + (1 - B1) * gw;
      vw = B2 * vw + (1 - B2) * gw * gw;
      mb = B1 * mb + (1 - B1) * gb;
      vb = B2 * vb + (1 - B2) * gb * gb;
      double c1 = 1 - Math.pow(B1, t), c2 = 1 - Math.pow(B2, t);
      w = w - LR * (mw / c1 / (Math.sqrt(vw / c2) + EPS) + WD * w);
      b = b - LR * (mb / c1 / (Math.sqrt(vb / c2) + EPS));
    }
    return new double[] {w, b};
  }

  static double[] run(double clip) {
    return run(clip, ConfigProto.getDefaultInstance());
  }

  static double[] run(double clip, ConfigProto config) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      ParameterStore store = new ParameterStore(1);
      Parameters p = store.scoped(tf.withSubScope("toy"), "toy");
      var w = p.create("w", new long[] {1}, Initializer.constant(0.7f), true);
      var b = p.create("b", new long[] {1}, Initializer.constant(-0.4f), false);
      // squaring a parameter directly also guards against reference-typed reads: Square's C++ gradient
      // crashes the process on a float_ref input
      Operand<TFloat32> loss = tf.math.add(
          tf.math.mul(tf.constant(3f), tf.sum(tf.math.square(w), tf.constant(0))),
          tf.math.mul(tf.constant(2f), tf.sum(b, tf.constant(0))));
      List<Parameter> params = store.all();
      AdamW opt = new AdamW(tf, params, Gradients.of(tf, loss, params), B1, B2, EPS, WD, clip);
      try (Session s = new Session(g, config)) {
        store.initialize(s, 1);
        Session.Runner init = s.runner();
        opt.initializers().forEach(init::addTarget);
        init.run().close();
        for (int t = 1; t <= 3; t++) {
          try (TFloat32 lr = TFloat32.scalarOf((float) LR);
              TFloat32 c1 = TFloat32.scalarOf(opt.correction1(t));
              TFloat32 c2 = TFloat32.scalarOf(opt.correction2(t))) {
            Session.Runner r = s.runner().feed(opt.lr(), lr).feed(opt.correction1(), c1).feed(opt.correction2(), c2);
            opt.updates().forEach(r::addTarget);
            try (Result res = r.run()) {
              // updates only
            }
          }
        }
        Map<String, float[]> v = store.read(s);
        return new double[] {v.get("toy/w")[0], v.get("toy/b")[0]};
      }
    }
  }
}
