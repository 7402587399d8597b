package dev.leviathan.correlation;

import static dev.leviathan.core.testing.MixerHarness.assertAllClose;
import static dev.leviathan.core.testing.MixerHarness.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.leviathan.core.model.Dropout;
import dev.leviathan.core.model.MixerContext;
import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.RecurrentTokenMixer;
import dev.leviathan.core.testing.StepChecks;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.op.Ops;

/** Generation through prefill and steps, against {@code apply} and the loop references. */
class CorrelationStepTest {
  private final CorrelationMixer correlation = new CorrelationMixer();
  private final CorrelationTimeMixer correlationTime = new CorrelationTimeMixer();

  @Test
  void correlationStepsMatchApplyAndTheLoopReferenceForEveryReduceAndPadding() {
    int[][] headsAndLags = {{1, 3}, {2, 1}, {2, 0}};
    for (String reduce : List.of("learned", "max")) {
      for (String padding : List.of("zero", "circular")) {
        for (int[] hl : headsAndLags) {
          int heads = hl[0], lags = hl[1];
          Map<String, Object> opts = Map.of("heads", heads, "lags", lags, "reduce", reduce, "padding", padding);
          try (StepChecks s = StepChecks.of(correlation, opts, 8, 10)) {
            assertEquals(2, s.stateCount());
            assertEquals(Long.MAX_VALUE, s.mixer().positionLimit());
            Random rnd = new Random(31 * heads + lags + reduce.length() + padding.length());
            s.randomize(rnd, 0.5);
            float[][][] x = randn(rnd, 2, 9, 8, 1.0);
            String what = reduce + "/" + padding + "/heads " + heads + "/lags " + lags + ": ";
            try {
              s.assertMatchesApply(x, 1e-5);
              Map<String, float[]> p = s.parameters();
              float[][][] expected = Loops.mix(x, p, heads, true, true, CorrelationMixerTest.correlationScores(
                  p, heads, lags, reduce.equals("learned"), padding.equals("circular")));
              assertAllClose(expected, s.generate(x, 3).outputs(), 1e-5);
            } catch (AssertionError e) {
              throw new AssertionError(what + e.getMessage(), e);
            }
          }
        }
      }
    }
  }

  @Test
  void correlationWithoutBiasGeneratesPastTheTrainingContext() {
    for (String reduce : List.of("learned", "max")) {
      try (StepChecks s = StepChecks.of(correlation, Map.of("heads", 2, "lags", 2, "bias", "off", "reduce", reduce), 8, 5)) {
        Random rnd = new Random(7 + reduce.length());
        s.randomize(rnd, 0.5);
        float[][][] x = randn(rnd, 3, 12, 8, 1.0);
        s.assertMatchesApply(x, 1e-5);
        Map<String, float[]> p = s.parameters();
        float[][][] expected = Loops.mix(x, p, 2, false, true,
            CorrelationMixerTest.correlationScores(p, 2, 2, reduce.equals("learned"), false));
        assertAllClose(expected, s.generate(x, 1).outputs(), 1e-5);
      }
    }
  }

  @Test
  void correlationCacheGrowsByOnePositionPerStep() {
    try (StepChecks s = StepChecks.of(correlation, Map.of("heads", 4, "lags", 1), 8, 8)) {
      List<List<long[]>> shapes = s.generate(randn(new Random(3), 2, 8, 8, 1.0), 2).stateShapes();
      for (int i = 0; i < shapes.size(); i++) {
        for (long[] shape : shapes.get(i)) {
          assertArrayEquals(new long[] {2, 4, 2 + i, 2}, shape);
        }
      }
    }
  }

  @Test
  void correlationTimeStepsMatchApplyAndTheLoopReference() {
    // lags 0 (no recent-key state), lags below, equal to and above the shortest prompt
    int[][] headsAndLags = {{1, 0}, {2, 1}, {2, 3}, {4, 2}, {2, 6}};
    for (int[] hl : headsAndLags) {
      for (String bias : List.of("on", "off")) {
        int heads = hl[0], lags = hl[1];
        try (StepChecks s = StepChecks.of(correlationTime, Map.of("heads", heads, "lags", lags, "bias", bias), 8, 10)) {
          assertEquals(lags == 0 ? 2 : 3, s.stateCount());
          assertEquals(Long.MAX_VALUE, s.mixer().positionLimit());
          Random rnd = new Random(17 * heads + lags + bias.length());
          s.randomize(rnd, 0.5);
          float[][][] x = randn(rnd, 2, 10, 8, 1.0);
          String what = "heads " + heads + "/lags " + lags + "/bias " + bias + ": ";
          try {
            s.assertMatchesApply(x, 1e-5);
            Map<String, float[]> p = s.parameters();
            float[][][] expected = Loops.mix(x, p, heads, bias.equals("on"), true,
                CorrelationTimeMixerTest.timeScores(p, lags));
            for (int prompt : new int[] {1, 2, 7}) {
              assertAllClose(expected, s.generate(x, prompt).outputs(), 1e-5);
            }
          } catch (AssertionError e) {
            throw new AssertionError(what + e.getMessage(), e);
          }
        }
      }
    }
  }

  @Test
  void correlationTimeStateIsTheCachePlusTheLastLRawKeys() {
    try (StepChecks s = StepChecks.of(correlationTime, Map.of("heads", 2, "lags", 3), 8, 10)) {
      List<List<long[]>> shapes = s.generate(randn(new Random(5), 2, 9, 8, 1.0), 2).stateShapes();
      assertEquals(8, shapes.size());
      for (int i = 0; i < shapes.size(); i++) {
        assertArrayEquals(new long[] {2, 2, 2 + i, 4}, shapes.get(i).get(0), "smoothed keys");
        assertArrayEquals(new long[] {2, 2, 2 + i, 4}, shapes.get(i).get(1), "values");
        assertArrayEquals(new long[] {2, 2, 3, 4}, shapes.get(i).get(2), "recent raw keys");
      }
    }
  }

  @Test
  void correlationTimeGeneratesPastTheTrainingContext() {
    try (StepChecks s = StepChecks.of(correlationTime, Map.of("heads", 2, "lags", 3), 8, 5)) {
      Random rnd = new Random(9);
      s.randomize(rnd, 0.5);
      float[][][] x = randn(rnd, 2, 14, 8, 1.0);
      s.assertMatchesApply(x, 1e-5);
      Map<String, float[]> p = s.parameters();
      assertAllClose(Loops.mix(x, p, 2, true, true, CorrelationTimeMixerTest.timeScores(p, 3)),
          s.generate(x, 4).outputs(), 1e-5);
    }
  }

  @Test
  void stepsOnlyReadThePast() {
    Map<String, Object> max = new HashMap<>(Map.of("heads", 2, "lags", 2, "reduce", "max", "padding", "circular"));
    try (StepChecks s = StepChecks.of(correlation, max, 8, 8)) {
      Random rnd = new Random(61);
      s.randomize(rnd, 0.5);
      s.assertStepsIgnoreLaterInputs(randn(rnd, 2, 8, 8, 1.0), 2, 62);
    }
    try (StepChecks s = StepChecks.of(correlationTime, Map.of("heads", 2, "lags", 2), 8, 8)) {
      Random rnd = new Random(63);
      s.randomize(rnd, 0.5);
      s.assertStepsIgnoreLaterInputs(randn(rnd, 2, 8, 8, 1.0), 1, 64);
    }
  }

  @Test
  void literalCorrelationHasNoStepFunction() {
    CorrelationLiteralMixer literal = new CorrelationLiteralMixer();
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Ops scoped = tf.withSubScope("mixer");
      ParameterStore store = new ParameterStore(1);
      MixerContext ctx = new MixerContext(scoped, 8, 6, 0, 1, store.scoped(scoped, "mixer"), new Dropout(tf));
      assertFalse(literal.create(ctx, MixerOptions.resolve(literal, Map.of())) instanceof RecurrentTokenMixer);
    }
  }
}
