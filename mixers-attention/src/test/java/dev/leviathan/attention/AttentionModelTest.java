package dev.leviathan.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.testing.ModelChecks;
import dev.leviathan.core.testing.TinyTraining;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class AttentionModelTest {
  @Test
  void serviceLoaderFindsAttentionAndCoreChannelMixersInTheirJars() {
    MixerRegistry r = MixerRegistry.discover();
    assertTrue(r.tokenMixer("attention") instanceof AttentionMixer);
    assertTrue(r.tokenMixerInfo("attention").source().contains("mixers-attention"), r.tokenMixerInfo("attention").source());
    assertTrue(r.hasChannelMixer("mlp"));
    assertTrue(r.hasChannelMixer("swiglu"));
    assertTrue(r.channelMixerInfo("mlp").source().contains("core"), r.channelMixerInfo("mlp").source());
  }

  private static ModelConfig tiny(String channel) {
    return ModelConfig.builder().vocabSize(7).context(6).width(8).layers(2)
        .tokenMixer(MixerSpec.of("attention", Map.of("heads", 2)))
        .channelMixer(MixerSpec.of(channel)).build();
  }

  @Test
  void everyParameterGetsAFiniteGradientAndMatchesFiniteDifferences() {
    for (String channel : List.of("mlp", "swiglu")) {
      try (ModelChecks m = new ModelChecks(MixerRegistry.discover(), tiny(channel), 3)) {
        // scale weights up from the 0.02 init so finite differences are well above float32 noise
        Random rnd = new Random(4);
        m.perturbParameters(rnd, 0.3);
        int[][] x = m.randomTokens(rnd, 2, 6);
        int[][] y = m.randomTokens(rnd, 2, 6);
        m.checkGradients(x, y, 1e-2, 3e-2, 3, 5);
      }
    }
  }

  @Test
  void wholeModelIsCausal() {
    try (ModelChecks m = new ModelChecks(MixerRegistry.discover(), tiny("mlp"), 9)) {
      m.assertCausal(m.randomTokens(new Random(1), 2, 6), 2);
    }
  }

  @Test
  void initialLossIsNearUniformAndTrainingLowersIt() {
    try (ModelChecks m = new ModelChecks(MixerRegistry.discover(), tiny("mlp"), 9)) {
      Random rnd = new Random(1);
      double loss = m.loss(m.randomTokens(rnd, 4, 6), m.randomTokens(rnd, 4, 6));
      assertEquals(Math.log(7), loss, 0.05, "GPT-2 init gives near-uniform predictions");
    }
    List<Double> losses = TinyTraining.losses(new AttentionMixer(), Map.of("heads", 2), 16, 150);
    double[] fl = TinyTraining.firstAndLast(losses, 10);
    assertTrue(fl[1] < fl[0] - 0.8, "loss fell from " + fl[0] + " to " + fl[1]);
  }
}
