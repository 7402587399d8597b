package dev.leviathan.attention;

import static dev.leviathan.core.testing.MixerHarness.assertAllClose;
import static dev.leviathan.core.testing.MixerHarness.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.leviathan.core.testing.StepChecks;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Generation with a key/value cache: prefill plus steps against {@code apply} and the loop reference. */
class AttentionStepTest {
  private final AttentionMixer provider = new AttentionMixer();

  @Test
  void prefillAndStepsMatchApplyAndTheLoopReference() {
    for (int heads : new int[] {1, 2, 4}) {
      for (String bias : new String[] {"on", "off"}) {
        try (StepChecks s = StepChecks.of(provider, Map.of("heads", heads, "bias", bias), 8, 12)) {
          Random rnd = new Random(10 * heads + bias.length());
          s.randomize(rnd, 0.5);
          float[][][] x = randn(rnd, 3, 11, 8, 1.0);
          s.assertMatchesApply(x, 1e-5);
          float[][][] expected = AttentionMixerTest.reference(x, s.parameters(), heads, bias.equals("on"));
          assertAllClose(expected, s.generate(x, 4).outputs(), 1e-5);
        }
      }
    }
  }

  @Test
  void dropoutOptionDoesNotChangeGeneration() {
    try (StepChecks s = StepChecks.of(provider, Map.of("heads", 2, "dropout", 0.3), 8, 9)) {
      Random rnd = new Random(21);
      s.randomize(rnd, 0.5);
      float[][][] x = randn(rnd, 2, 9, 8, 1.0);
      s.assertMatchesApply(x, 1e-5);
      assertAllClose(AttentionMixerTest.reference(x, s.parameters(), 2, true), s.generate(x, 1).outputs(), 1e-5);
    }
  }

  @Test
  void cacheHoldsKeysAndValuesOfEveryPositionRead() {
    try (StepChecks s = StepChecks.of(provider, Map.of("heads", 2), 8, 10)) {
      assertEquals(2, s.stateCount());
      float[][][] x = randn(new Random(31), 2, 10, 8, 1.0);
      List<List<long[]>> shapes = s.generate(x, 3).stateShapes();
      assertEquals(8, shapes.size());
      for (int i = 0; i < shapes.size(); i++) {
        for (long[] shape : shapes.get(i)) {
          assertArrayEquals(new long[] {2, 2, 3 + i, 4}, shape, "after " + (3 + i) + " positions");
        }
      }
    }
  }

  @Test
  void generatesPastTheTrainingContext() {
    try (StepChecks s = StepChecks.of(provider, Map.of("heads", 2), 8, 4)) {
      assertEquals(Long.MAX_VALUE, s.mixer().positionLimit());
      Random rnd = new Random(41);
      s.randomize(rnd, 0.5);
      float[][][] x = randn(rnd, 2, 13, 8, 1.0);
      s.assertMatchesApply(x, 1e-5);
      assertAllClose(AttentionMixerTest.reference(x, s.parameters(), 2, true), s.generate(x, 2).outputs(), 1e-5);
    }
  }

  @Test
  void stepsOnlyReadThePast() {
    try (StepChecks s = StepChecks.of(provider, Map.of("heads", 2), 8, 8)) {
      Random rnd = new Random(51);
      s.randomize(rnd, 0.5);
      s.assertStepsIgnoreLaterInputs(randn(rnd, 2, 8, 8, 1.0), 2, 52);
    }
  }
}
