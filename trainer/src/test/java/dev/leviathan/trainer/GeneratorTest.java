package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Cached generation ({@link Generator}, prefill then one step per token) against full recompute
 * ({@link ModelRuntime#nextLogits}) on tiny random models: the same logits at every position, and
 * the same tokens from {@link Sampler} with the same seed, greedy and sampled, for every built-in
 * causal token mixer, a hybrid stack, and a mixer without a step function.
 */
class GeneratorTest {
  static final int CONTEXT = 24;
  static final String HYBRID = "aft-local,attention,mlgru,cumulative-mean";

  static List<String> stack(String mixers) {
    return List.of(mixers.split(","));
  }

  @ParameterizedTest
  @ValueSource(strings = {"attention", "correlation", "correlation-time", "aft-full", "aft-local", "aft-simple",
      "aft-conv", "mlgru", "cumulative-mean", HYBRID})
  void cachedLogitsEqualFullRecomputeAtEveryPosition(String mixers) {
    try (ModelRuntime rt = TinyModels.runtime(TinyModels.config(stack(mixers), CONTEXT, true), 7)) {
      int[] seq = TinyModels.randomTokens(CONTEXT, 11);
      Generator g = rt.generator();
      assertEquals(CONTEXT, g.positionLimit(), "a learned position embedding limits generation to the context");
      double spread = 0;
      // Prompts of one and of several tokens (the prompt pass and the step both start the positions).
      for (int prompt : new int[] {1, 5}) {
        try (Generator.Sequence s = g.start(new int[][] {Arrays.copyOf(seq, prompt)})) {
          for (int len = prompt; ; len++) {
            float[] expected = rt.nextLogits(Arrays.copyOf(seq, len));
            float[] actual = s.logits()[0];
            assertClose(expected, actual, 1e-4, mixers + ", prompt " + prompt + ", position " + (len - 1));
            spread = Math.max(spread, max(expected) - min(expected));
            if (len == CONTEXT) {
              break;
            }
            s.append(new int[] {seq[len]});
            assertEquals(len + 1, s.length());
          }
        }
      }
      assertTrue(spread > 3, "logits should discriminate between tokens; spread " + spread);
    }
  }

  @Test
  void aBatchOfPromptsGivesEachPromptsOwnLogits() {
    try (ModelRuntime rt = TinyModels.runtime(TinyModels.config(stack(HYBRID), CONTEXT, true), 3)) {
      int[][] seqs = {TinyModels.randomTokens(12, 1), TinyModels.randomTokens(12, 2)};
      try (Generator.Sequence s = rt.generator().start(new int[][] {Arrays.copyOf(seqs[0], 4), Arrays.copyOf(seqs[1], 4)})) {
        for (int len = 4; len <= 12; len++) {
          float[][] actual = s.logits();
          for (int b = 0; b < 2; b++) {
            assertClose(rt.nextLogits(Arrays.copyOf(seqs[b], len)), actual[b], 1e-4, "sequence " + b + ", length " + len);
          }
          if (len < 12) {
            s.append(new int[] {seqs[0][len], seqs[1][len]});
          }
        }
      }
    }
  }

  @Test
  void theRecomputePassJoinsTheGraphOnItsFirstUseOnly() {
    try (ModelRuntime rt = TinyModels.runtime(TinyModels.config(stack("attention"), CONTEXT, true), 3)) {
      int training = rt.graphNodes();
      int[] seq = TinyModels.randomTokens(10, 4);
      float[] first = rt.nextLogits(seq);
      int withRecompute = rt.graphNodes();
      assertTrue(withRecompute > training, "a runtime that never recomputes holds no recompute pass");
      assertArrayEquals(first, rt.nextLogits(seq));
      assertEquals(withRecompute, rt.graphNodes(), "the pass is built once");
    }
  }

  @Test
  void onlyTheMixerWithoutAStepFunctionIsRecomputed() {
    try (ModelRuntime rt = TinyModels.runtime(TinyModels.config(stack(HYBRID), CONTEXT, false), 3)) {
      assertTrue(rt.generator().recomputedLayers().contains(3), rt.generator().recomputedLayers().toString());
      assertTrue(!rt.generator().recomputedLayers().contains(2), "mlgru has a step function");
      assertEquals(CONTEXT, rt.generator().positionLimit(), "a recomputed mixer is limited to the context");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"aft-simple", "mlgru"})
  void withoutPositionEmbeddingAPromptLongerThanTheContextIsReadExactly(String mixer) {
    try (ModelRuntime rt = TinyModels.runtime(TinyModels.config(List.of(mixer), 8, false), 5)) {
      Generator g = rt.generator();
      assertEquals(Long.MAX_VALUE, g.positionLimit());
      int[] seq = TinyModels.randomTokens(21, 4);
      try (Generator.Sequence whole = g.start(new int[][] {seq});
          Generator.Sequence stepped = g.start(new int[][] {Arrays.copyOf(seq, 2)})) {
        for (int len = 2; len < seq.length; len++) {
          stepped.append(new int[] {seq[len]});
        }
        assertClose(stepped.logits()[0], whole.logits()[0], 1e-4, "a 21-token prompt of a context-8 model");
      }
    }
  }

  @Test
  void withoutPositionEmbeddingMlgruGeneratesPastTheContext() {
    try (ModelRuntime rt = TinyModels.runtime(TinyModels.config(List.of("mlgru"), 8, false), 5)) {
      Generator g = rt.generator();
      assertEquals(Long.MAX_VALUE, g.positionLimit());
      int[] seq = TinyModels.randomTokens(20, 4);
      try (Generator.Sequence s = g.start(new int[][] {Arrays.copyOf(seq, 2)})) {
        for (int len = 2; len < 20; len++) {
          s.append(new int[] {seq[len]});
        }
        // The whole 20 tokens in one recompute: mlgru's scan reads any length, nothing depends on position.
        assertClose(rt.nextLogits(seq), s.logits()[0], 1e-4, "position 19 of a context-8 model");
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"attention", "correlation", "correlation-time", "aft-full", "aft-local", "aft-simple",
      "aft-conv", "mlgru", HYBRID})
  void sampledTokensEqualFullRecomputeGreedyAndSampled(String mixers) {
    try (ModelRuntime rt = TinyModels.runtime(TinyModels.config(stack(mixers), CONTEXT, true), 9)) {
      List<String> notices = new ArrayList<>();
      Sampler cached = new Sampler(rt, null).notices(notices::add);
      Sampler recompute = cached.fullRecompute();
      int[] prompt = TinyModels.randomTokens(3, 21);
      // Within the limit, and past it (the cached path then falls back to the sliding window).
      for (int tokens : new int[] {CONTEXT - 3, CONTEXT + 10}) {
        int[] greedy = cached.generate(prompt, tokens, 1.0, 1, 5);
        assertArrayEquals(recompute.generate(prompt, tokens, 1.0, 1, 5), greedy, mixers + " greedy, " + tokens);
        assertTrue(Arrays.stream(greedy).distinct().count() > 3, "greedy text varies: " + Arrays.toString(greedy));
        for (long seed : new long[] {1, 2, 3}) {
          int[] sampled = cached.generate(prompt, tokens, 1.0, 0, seed);
          assertArrayEquals(recompute.generate(prompt, tokens, 1.0, 0, seed), sampled,
              mixers + " sampled, seed " + seed + ", " + tokens);
        }
      }
      // One notice per generation past the limit: greedy and three seeds.
      assertEquals(4, notices.size(), notices.toString());
      assertEquals("generation past the position limit " + CONTEXT + ": recomputing the last " + CONTEXT
          + " tokens per token", notices.get(0));
    }
  }

  @Test
  void aPromptLongerThanTheLimitIsRefusedByTheGenerator() {
    try (ModelRuntime rt = TinyModels.runtime(TinyModels.config(List.of("aft-simple"), 8, true), 1)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> rt.generator().start(new int[][] {TinyModels.randomTokens(9, 1)}));
      assertTrue(e.getMessage().contains("position limit 8"), e.getMessage());
    }
  }

  @Test
  void aPromptLongerThanTheLimitIsSampledByFullRecomputeWithOneNotice() {
    try (ModelRuntime rt = TinyModels.runtime(TinyModels.config(List.of("attention"), 8, true), 2)) {
      List<String> notices = new ArrayList<>();
      Sampler cached = new Sampler(rt, null).notices(notices::add);
      int[] prompt = TinyModels.randomTokens(11, 6);
      assertArrayEquals(cached.fullRecompute().generate(prompt, 6, 1.0, 0, 4), cached.generate(prompt, 6, 1.0, 0, 4));
      assertEquals(List.of("generation past the position limit 8: recomputing the last 8 tokens per token"), notices);
      assertEquals(11, cached.generate(prompt, 0, 1.0, 0, 4).length, "no tokens asked, no notice");
      assertEquals(1, notices.size());
    }
  }

  static void assertClose(float[] expected, float[] actual, double tol, String what) {
    assertEquals(expected.length, actual.length, what);
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual[i], tol * Math.max(1, Math.abs(expected[i])), what + ", logit " + i);
    }
  }

  static double max(float[] v) {
    double m = Double.NEGATIVE_INFINITY;
    for (float x : v) {
      m = Math.max(m, x);
    }
    return m;
  }

  static double min(float[] v) {
    double m = Double.POSITIVE_INFINITY;
    for (float x : v) {
      m = Math.min(m, x);
    }
    return m;
  }
}
