package dev.leviathan.app;

import dev.leviathan.core.model.Generation;
import dev.leviathan.core.model.LanguageModel;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.tensorflow.Operand;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The cached-generation signatures of a SavedModel, built from {@link Generation} in the export graph:
 *
 * <pre>
 *   prefill:  tokens int32 [B, P]                          -> logits float32 [B, V] (position P-1),
 *                                                             state_0 .. state_{n-1}
 *   step:     token int32 [B], position int32 scalar,      -> logits float32 [B, V] (position p),
 *             state_0 .. state_{n-1}                          state_0 .. state_{n-1}
 * </pre>
 *
 * The state tensors are every layer's token-mixer state, flattened in layer order (a layer may carry
 * several: attention its keys and values). They are float32 of unknown static shape (a cache grows by
 * one position per step); a client feeds each {@code state_i} output of one call as the
 * {@code state_i} input of the next step, with {@code position} = the number of tokens read before
 * {@code token} (P for the first step). P is at most the context, the longest input of a token mixer's
 * parallel pass; a longer prompt is read by {@code prefill} up to the context and {@code step} after it.
 * Only exported when every token mixer has a step function: a
 * mixer without one would be recomputed over its input history at every step, which is not what a
 * serving client expects from {@code step}.
 */
final class GenerationSignatures {
  static final String PREFILL = "prefill";
  static final String STEP = "step";

  /**
   * The two signatures, how many state tensors they carry and the longest sequence they can hold; or,
   * when some layers have no step function, no signatures and {@code missing}, one line saying why.
   */
  record Built(List<Signature> signatures, int states, long positionLimit, String missing) {}

  private GenerationSignatures() {}

  static Built build(Ops tf, LanguageModel model) {
    Generation g = model.generation();
    List<Integer> recomputed = g.recomputedLayers();
    if (!recomputed.isEmpty()) {
      String layers = recomputed.stream()
          .map(i -> i + " (" + model.config().tokenMixers().get(i).name() + ")").collect(Collectors.joining(", "));
      return new Built(List.of(), 0, g.positionLimit(), "no '" + PREFILL + "'/'" + STEP + "' signatures: the token mixer"
          + (recomputed.size() == 1 ? " of layer " : "s of layers ") + layers + " ha" + (recomputed.size() == 1 ? "s" : "ve")
          + " no step function; generate with the '" + SavedModelExport.SIGNATURE + "' signature over the whole window");
    }
    Placeholder<TInt32> prompt = tf.withName("prefill_tokens").placeholder(TInt32.class,
        Placeholder.shape(Shape.of(-1, -1)));
    Generation.Output first = g.prefill(prompt);
    Signature.Builder prefill = Signature.builder(PREFILL).input("tokens", prompt)
        .output("logits", tf.withName("prefill_logits").identity(first.logits()));

    Placeholder<TInt32> token = tf.withName("step_token").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
    Placeholder<TInt32> position = tf.withName("step_position").placeholder(TInt32.class,
        Placeholder.shape(Shape.scalar()));
    Signature.Builder step = Signature.builder(STEP).input("token", token).input("position", position);
    List<List<Operand<TFloat32>>> in = new ArrayList<>();
    int n = 0;
    for (List<Operand<TFloat32>> layer : first.states()) {
      List<Operand<TFloat32>> placeholders = new ArrayList<>();
      for (Operand<TFloat32> s : layer) {
        String key = "state_" + n++;
        prefill.output(key, tf.withName("prefill_" + key).identity(s));
        Placeholder<TFloat32> p = tf.withName("step_" + key + "_in").placeholder(TFloat32.class);
        step.input(key, p);
        placeholders.add(p);
      }
      in.add(placeholders);
    }
    Generation.Output next = g.step(token, position, in);
    step.output("logits", tf.withName("step_logits").identity(next.logits()));
    n = 0;
    for (int i = 0; i < in.size(); i++) {
      if (next.states().get(i).size() != in.get(i).size()) {
        throw new IllegalStateException("token mixer of layer " + i + " returns " + next.states().get(i).size()
            + " state tensors from step but " + in.get(i).size() + " from prefill; this is a defect of the mixer");
      }
      for (Operand<TFloat32> s : next.states().get(i)) {
        String key = "state_" + n++;
        step.output(key, tf.withName("step_" + key).identity(s));
      }
    }
    return new Built(List.of(prefill.build(), step.build()), n, g.positionLimit(), null);
  }
}
