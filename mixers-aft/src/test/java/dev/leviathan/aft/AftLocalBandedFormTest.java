package dev.leviathan.aft;

import static dev.leviathan.core.testing.MixerHarness.assertAllClose;
import static dev.leviathan.core.testing.MixerHarness.randn;

import dev.leviathan.core.testing.MixerHarness;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Every aft-local test again with the parallel pass forced to the banded form (the one taken past
 * {@link AftLocalMixer#DENSE_MAX_CONTEXT}), and the dense and banded forms against each other.
 */
class AftLocalBandedFormTest extends AftLocalMixerTest {
  @Override
  AftLocalMixer.Form form() {
    return AftLocalMixer.Form.BANDED;
  }

  @Test
  void denseAndBandedFormsGiveTheSameOutputs() {
    for (int rank : new int[] {3, 0}) {
      for (int window : new int[] {1, 5, 16, 40}) {
        Map<String, Integer> options = Map.of("window", window, "bias-rank", rank);
        try (MixerHarness dense = MixerHarness.forwardOnly(new AftLocalMixer(AftLocalMixer.Form.DENSE), options, 8, 40);
            MixerHarness banded = MixerHarness.forwardOnly(new AftLocalMixer(AftLocalMixer.Form.BANDED), options, 8, 40)) {
          Random rnd = new Random(97 * rank + window);
          AftTesting.randomise(dense, rnd, 0.5);
          AftTesting.copy(dense, banded, dense.parameterNames().toArray(String[]::new));
          for (int t : new int[] {40, 29}) {
            float[][][] x = randn(rnd, 3, t, 8, 1.0);
            assertAllClose(banded.run(x), dense.run(x), 1e-5);
          }
          // keys spread over 300 nats
          AftTesting.setKeyColumns(dense, 8, 50f);
          AftTesting.setKeyColumns(banded, 8, 50f);
          float[][][] wide = AftTesting.wideKeyInputs(rnd, 2, 40, 8, 8);
          float[][][] y = dense.run(wide);
          AftTesting.assertFinite(y);
          assertAllClose(banded.run(wide), y, 1e-5);
        }
      }
    }
  }
}
