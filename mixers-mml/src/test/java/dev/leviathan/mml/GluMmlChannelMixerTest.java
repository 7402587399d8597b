package dev.leviathan.mml;

import static dev.leviathan.core.testing.MixerHarness.assertAllClose;
import static dev.leviathan.core.testing.MixerHarness.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.spi.InvalidMixerOptionException;
import dev.leviathan.core.testing.MixerHarness;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class GluMmlChannelMixerTest {
  private final GluMmlChannelMixer provider = new GluMmlChannelMixer();

  static void randomize(MixerHarness h, Random rnd, double std, boolean ternarySafe) {
    for (String name : h.parameterNames()) {
      float[] v = h.parameters().get(name);
      if (name.startsWith("norm_")) {
        v = Loops.gains(rnd, v.length, 0.2);
      } else if (ternarySafe) {
        v = Loops.ternarySafeWeights(rnd, v.length, std);
      } else {
        for (int i = 0; i < v.length; i++) {
          v[i] = (float) (rnd.nextGaussian() * std);
        }
      }
      h.set(name, v);
    }
  }

  @Test
  void defaultHiddenWidthIsTheSwiGluRule() {
    assertEquals(256, GluMmlChannelMixer.defaultHidden(8));
    assertEquals(512, GluMmlChannelMixer.defaultHidden(128));
    assertEquals(768, GluMmlChannelMixer.defaultHidden(256));
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of(), 8, 4)) {
      assertEquals(List.of("w_gate", "norm_gate", "w_up", "norm_up", "w_down", "norm_down"), h.parameterNames());
      assertArrayEquals(new long[] {8, 256}, h.shape("w_gate"));
      assertArrayEquals(new long[] {256, 8}, h.shape("w_down"));
      assertArrayEquals(new long[] {256}, h.shape("norm_down"));
    }
  }

  @Test
  void fullPrecisionMatchesLoopReference() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("hidden", 12, "quantize", "off"), 6, 5)) {
      Random rnd = new Random(81);
      randomize(h, rnd, 0.5, false);
      float[][][] x = randn(rnd, 2, 5, 6, 1.5);
      assertAllClose(Loops.gluMml(x, h.parameters(), 12, false), h.run(x), 1e-5);
    }
  }

  @Test
  void quantizedMatchesLoopReference() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("hidden", 12), 6, 5)) {
      // inputs are drawn until no quantiser of the reference sits next to a rounding tie
      float[][][][] drawn = Loops.awayFromTies(82, seed -> {
        Random rnd = new Random(seed);
        randomize(h, rnd, 0.5, true);
        float[][][] x = randn(rnd, 2, 5, 6, 1.5);
        return new float[][][][] {x, Loops.gluMml(x, h.parameters(), 12, true)};
      });
      float[][][] x = drawn[0], expected = drawn[1];
      assertAllClose(expected, h.run(x), 1e-5);
      float[][][] full = Loops.gluMml(x, h.parameters(), 12, false);
      double diff = 0;
      for (int b = 0; b < 2; b++) {
        for (int t = 0; t < 5; t++) {
          for (int j = 0; j < 6; j++) {
            diff = Math.max(diff, Math.abs(full[b][t][j] - expected[b][t][j]));
          }
        }
      }
      assertTrue(diff > 1e-3, "quantised and full-precision outputs differ by only " + diff);
    }
  }

  @Test
  void isPositionWise() {
    try (MixerHarness h = MixerHarness.forwardOnly(provider, Map.of("hidden", 12), 6, 7)) {
      randomize(h, new Random(83), 0.5, true);
      h.assertCausal(randn(new Random(84), 2, 7, 6, 1.0), 85);
    }
  }

  @Test
  void fullPrecisionGradientsMatchFiniteDifferences() {
    try (MixerHarness h = MixerHarness.of(provider, Map.of("hidden", 6, "quantize", "off"), 4, 3)) {
      Random rnd = new Random(86);
      randomize(h, rnd, 0.5, false);
      h.checkGradients(randn(rnd, 2, 3, 4, 1.0), randn(rnd, 2, 3, 4, 1.0), 1e-2, 2e-2, 6, 87);
    }
  }

  @Test
  void rejectsNegativeHidden() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("hidden", -4), 8, 4));
    assertEquals("mixer 'glu-mml': option 'hidden' must be an integer >= 0, got -4", e.getMessage());
  }

  @Test
  void rejectsQuantizeThatIsNotOnOrOff() {
    InvalidMixerOptionException e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerHarness.forwardOnly(provider, Map.of("quantize", 2), 8, 4));
    assertEquals("mixer 'glu-mml': option 'quantize' must be on|off, got '2'", e.getMessage());
  }
}
