package dev.leviathan.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.trainer.Corpus;
import dev.leviathan.trainer.Generator;
import dev.leviathan.trainer.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.SessionFunction;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The SavedModel's {@code prefill} and {@code step} signatures, loaded with TensorFlow's
 * {@link SavedModelBundle} and driven as a serving client would: prefill a batch of two prompts, then
 * one step per token, feeding each call's {@code state_i} outputs back as the next step's inputs. The
 * logits at every position equal those of the run's own {@link Generator} and of full recompute
 * ({@code ModelRuntime.nextLogits} on the whole prefix). A stack with a mixer without a step function
 * exports only {@code logits} and says why.
 */
class SavedModelStepTest {
  static final double TOLERANCE = 1e-5;
  static final int PROMPT = 5;
  static final int CONTEXT = 32; // TrainCliTest.TINY

  @TempDir Path work;

  private Cli trainAndExport(String... set) throws Exception {
    Files.writeString(work.resolve("slice.txt"), Corpus.bundledText().substring(0, 30_000));
    String[] args = new String[] {"train", "--data", "slice.txt", "--out", "run", "--steps", "20"};
    String[] all = Arrays.copyOf(args, args.length + set.length);
    System.arraycopy(set, 0, all, args.length, set.length);
    Cli t = Cli.run(work, TrainCliTest.tiny(all));
    assertEquals(0, t.code(), t.toString());
    Cli e = Cli.run(work, "export", "--run", "run", "--format", "savedmodel", "--out", "model");
    assertEquals(0, e.code(), e.toString());
    return e;
  }

  @ParameterizedTest
  @ValueSource(strings = {"[attention, mlgru]", "[aft-simple, correlation-time]"})
  void prefillThenStepsReproduceTheGeneratorAndFullRecompute(String mixers) throws Exception {
    Cli e = trainAndExport("--set", "token-mixers=" + mixers);
    List<String> lines = e.out().lines().toList();
    assertEquals(2, lines.size(), e.out());
    assertTrue(lines.get(1).startsWith("signatures 'prefill' (int32 tokens [B, P] -> float32 logits [B, "), e.out());
    assertTrue(lines.get(1).endsWith(", positions below " + CONTEXT), e.out()); // learned position embedding

    try (Trainer.LoadedRun run = new Trainer(MixerRegistry.discover()).open(work.resolve("run"), "last");
        SavedModelBundle bundle = SavedModelBundle.load(work.resolve("model").toString(), "serve")) {
      int vocab = run.tokenizer().vocabSize();
      Map<String, SignatureDef> defs = bundle.metaGraphDef().getSignatureDefMap();
      assertEquals(Set.of("logits", "serving_default", "prefill", "step"), defs.keySet());
      int states = defs.get("prefill").getOutputsCount() - 1;
      assertTrue(states >= 2, "one state tensor per layer at least, got " + states);
      assertEquals(states + 2, defs.get("step").getInputsCount());
      assertEquals(states + 1, defs.get("step").getOutputsCount());
      for (int i = 0; i < states; i++) {
        assertTrue(defs.get("step").getInputsOrThrow("state_" + i).getTensorShape().getUnknownRank(), "state_" + i);
        assertTrue(defs.get("step").getOutputsMap().containsKey("state_" + i), "state_" + i);
      }

      String text = Corpus.bundledText();
      int[][] seqs = {run.tokenizer().encode(text.substring(100, 100 + CONTEXT)),
          run.tokenizer().encode(text.substring(5000, 5000 + CONTEXT))};
      SessionFunction prefill = bundle.function("prefill");
      SessionFunction step = bundle.function("step");
      Generator generator = run.runtime().generator();
      double worstGenerator = 0;
      double worstRecompute = 0;
      int[] flat = new int[2 * PROMPT];
      System.arraycopy(seqs[0], 0, flat, 0, PROMPT);
      System.arraycopy(seqs[1], 0, flat, PROMPT, PROMPT);
      Result current;
      try (TInt32 tokens = TInt32.tensorOf(Shape.of(2, PROMPT), DataBuffers.of(flat, true, false))) {
        current = prefill.call(Map.of("tokens", tokens));
      }
      try (Generator.Sequence cached = generator.start(new int[][] {Arrays.copyOf(seqs[0], PROMPT),
          Arrays.copyOf(seqs[1], PROMPT)})) {
        for (int length = PROMPT; ; length++) {
          float[][] exported = logits(current, vocab);
          float[][] fromGenerator = cached.logits();
          for (int b = 0; b < 2; b++) {
            float[] recomputed = run.runtime().nextLogits(Arrays.copyOf(seqs[b], length));
            String where = mixers + " sequence " + b + " position " + (length - 1);
            worstGenerator = Math.max(worstGenerator, assertClose(fromGenerator[b], exported[b], where + " vs Generator"));
            worstRecompute = Math.max(worstRecompute, assertClose(recomputed, exported[b], where + " vs recompute"));
          }
          if (length == CONTEXT) {
            break;
          }
          int[] next = {seqs[0][length], seqs[1][length]};
          Map<String, Tensor> feed = new HashMap<>();
          try (TInt32 token = TInt32.vectorOf(next); TInt32 position = TInt32.scalarOf(length)) {
            feed.put("token", token);
            feed.put("position", position);
            for (int i = 0; i < states; i++) {
              feed.put("state_" + i, current.get("state_" + i).orElseThrow());
            }
            Result after = step.call(feed);
            current.close();
            current = after;
          }
          cached.append(next);
        }
      } finally {
        current.close();
      }
      System.out.printf("%s: %d states, positions %d..%d, largest |logit difference| %.2e vs Generator, %.2e vs"
          + " full recompute%n", mixers, states, PROMPT - 1, CONTEXT - 1, worstGenerator, worstRecompute);
    }
  }

  @Test
  void aMixerWithoutAStepFunctionExportsOnlyLogitsAndSaysWhy() throws Exception {
    Cli e = trainAndExport("--set", "token-mixers=[attention, correlation-literal]", "--allow-noncausal",
        "--set", "token-mixer-options.heads=2");
    List<String> lines = e.out().lines().toList();
    assertEquals(2, lines.size(), e.out());
    assertEquals("no 'prefill'/'step' signatures: the token mixer of layer 1 (correlation-literal) has no step"
        + " function; generate with the 'logits' signature over the whole window", lines.get(1));
    try (SavedModelBundle bundle = SavedModelBundle.load(work.resolve("model").toString(), "serve")) {
      assertEquals(Set.of("logits", "serving_default"), bundle.metaGraphDef().getSignatureDefMap().keySet());
    }
  }

  private static float[][] logits(Result r, int vocab) {
    TFloat32 t = (TFloat32) r.get("logits").orElseThrow();
    assertEquals(Shape.of(2, vocab), t.shape());
    float[] flat = new float[2 * vocab];
    t.copyTo(DataBuffers.of(flat, false, false));
    return new float[][] {Arrays.copyOf(flat, vocab), Arrays.copyOfRange(flat, vocab, 2 * vocab)};
  }

  /** Asserts equality to {@link #TOLERANCE} per logit; returns the largest difference. */
  private static double assertClose(float[] expected, float[] actual, String what) {
    assertEquals(expected.length, actual.length, what);
    double worst = 0;
    for (int v = 0; v < expected.length; v++) {
      worst = Math.max(worst, Math.abs(expected[v] - actual[v]));
      assertEquals(expected[v], actual[v], TOLERANCE, what + " token " + v);
    }
    return worst;
  }
}
