package dev.leviathan.core.testing;

import dev.leviathan.core.channel.MlpChannelMixer;
import dev.leviathan.core.channel.SwiGluChannelMixer;
import dev.leviathan.core.model.Gradients;
import dev.leviathan.core.model.LanguageModel;
import dev.leviathan.core.model.ResolvedModel;
import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.spi.MixerProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * A short training run for mixer tests: a small language model with the mixer under test learns a
 * synthetic corpus (a fixed random text repeated with noise) with plain Adam. Returns the loss per step.
 * Kept in core's test jar so mixer modules can prove "the loss drops" without the trainer.
 */
public final class TinyTraining {
  private TinyTraining() {}

  /** A registry with the given providers plus core's channel mixers. */
  public static MixerRegistry registry(MixerProvider... providers) {
    MixerRegistry.Builder b = MixerRegistry.builder()
        .add(new MlpChannelMixer(), "built-in")
        .add(new SwiGluChannelMixer(), "built-in");
    for (MixerProvider p : providers) {
      b.add(p, "test");
    }
    return b.build();
  }

  /**
   * Trains {@code steps} steps of Adam (lr 3e-3) on batches of 8 windows of {@code context} tokens
   * from a 16-symbol corpus with learnable structure; returns the training loss of every step.
   */
  public static List<Double> losses(MixerProvider mixer, Map<String, ?> options, int context, int steps) {
    ModelConfig config = ModelConfig.builder()
        .vocabSize(16).context(context).width(32).layers(2)
        .tokenMixer(MixerSpec.of(mixer.name(), options))
        .build();
    return losses(registry(mixer), config, steps, 42L);
  }

  public static List<Double> losses(MixerRegistry registry, ModelConfig config, int steps, long seed) {
    int context = config.context();
    int[] corpus = corpus(config.vocabSize(), 4000, seed);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      ParameterStore store = new ParameterStore(config.layers());
      LanguageModel model = new LanguageModel(tf, ResolvedModel.resolve(config, registry), store);
      Placeholder<TInt32> x = tf.withName("x").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, context)));
      Placeholder<TInt32> y = tf.withName("y").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, context)));
      Operand<TFloat32> loss = model.loss(model.logits(x), y);
      List<Operand<TFloat32>> grads = Gradients.of(tf, loss, store.all());
      List<Op> updates = new ArrayList<>();
      Ops opt = tf.withSubScope("adam");
      for (int i = 0; i < grads.size(); i++) {
        Variable<TFloat32> v = store.all().get(i).variable();
        Shape shape = v.shape();
        Variable<TFloat32> m = opt.withName("m" + i).variable(opt.zeros(opt.constant(shape), TFloat32.class));
        Variable<TFloat32> s = opt.withName("v" + i).variable(opt.zeros(opt.constant(shape), TFloat32.class));
        updates.add(opt.train.applyAdam(v, m, s, opt.constant(0.9f), opt.constant(0.99f), opt.constant(3e-3f),
            opt.constant(0.9f), opt.constant(0.99f), opt.constant(1e-8f), grads.get(i)));
      }
      try (Session session = new Session(g)) {
        session.initialize();
        store.initialize(session, seed);
        Random rnd = new Random(seed);
        List<Double> out = new ArrayList<>();
        int batch = 8;
        for (int step = 0; step < steps; step++) {
          int[] xs = new int[batch * context];
          int[] ys = new int[batch * context];
          for (int b = 0; b < batch; b++) {
            int start = rnd.nextInt(corpus.length - context - 1);
            System.arraycopy(corpus, start, xs, b * context, context);
            System.arraycopy(corpus, start + 1, ys, b * context, context);
          }
          try (TInt32 xt = TInt32.tensorOf(Shape.of(batch, context), DataBuffers.of(xs, true, false));
              TInt32 yt = TInt32.tensorOf(Shape.of(batch, context), DataBuffers.of(ys, true, false))) {
            Session.Runner r = session.runner().feed(x, xt).feed(y, yt).fetch(loss);
            updates.forEach(r::addTarget);
            try (Result res = r.run()) {
              out.add((double) ((TFloat32) res.get(0)).getFloat());
            }
          }
        }
        return out;
      }
    }
  }

  /** Mean of the first and last {@code n} entries: {@code [first, last]}. */
  public static double[] firstAndLast(List<Double> losses, int n) {
    double a = losses.subList(0, n).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    double b = losses.subList(losses.size() - n, losses.size()).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    return new double[] {a, b};
  }

  /** A corpus where the next symbol mostly follows from the previous two (plus 10% noise). */
  static int[] corpus(int vocab, int length, long seed) {
    Random rnd = new Random(seed);
    int[][] next = new int[vocab][vocab];
    for (int[] row : next) {
      for (int j = 0; j < vocab; j++) {
        row[j] = rnd.nextInt(vocab);
      }
    }
    int[] c = new int[length];
    c[0] = 0;
    c[1] = 1;
    for (int i = 2; i < length; i++) {
      c[i] = rnd.nextDouble() < 0.1 ? rnd.nextInt(vocab) : next[c[i - 2]][c[i - 1]];
    }
    return c;
  }
}
