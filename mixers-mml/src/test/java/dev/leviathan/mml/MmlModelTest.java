package dev.leviathan.mml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.model.NormKind;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.testing.ModelChecks;
import dev.leviathan.core.testing.TinyTraining;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class MmlModelTest {
  @Test
  void serviceLoaderFindsMlgruAndGluMmlInThisModule() {
    MixerRegistry r = MixerRegistry.discover();
    assertTrue(r.tokenMixer("mlgru") instanceof MlgruMixer);
    assertTrue(r.channelMixer("glu-mml") instanceof GluMmlChannelMixer);
    assertTrue(r.tokenMixerInfo("mlgru").source().contains("mixers-mml"), r.tokenMixerInfo("mlgru").source());
    assertTrue(r.channelMixerInfo("glu-mml").source().contains("mixers-mml"), r.channelMixerInfo("glu-mml").source());
    assertTrue(r.tokenMixer("mlgru").causal());
  }

  /** The MatMul-free block: mlgru + glu-mml + RMSNorm, pre-norm. */
  private static ModelConfig mml(String quantize) {
    return ModelConfig.builder().vocabSize(7).context(6).width(8).layers(2).norm(NormKind.RMSNORM)
        .tokenMixer(MixerSpec.of("mlgru", Map.of("heads", 2, "chunk", 4, "quantize", quantize)))
        .channelMixer(MixerSpec.of("glu-mml", Map.of("hidden", 16, "quantize", quantize))).build();
  }

  @Test
  void fullPrecisionModelGradientsMatchFiniteDifferences() {
    try (ModelChecks m = new ModelChecks(MixerRegistry.discover(), mml("off"), 3)) {
      // scale weights up from the 0.02 init so finite differences are well above float32 noise
      Random rnd = new Random(4);
      m.perturbParameters(rnd, 0.3);
      m.checkGradients(m.randomTokens(rnd, 2, 6), m.randomTokens(rnd, 2, 6), 1e-2, 3e-2, 3, 5);
    }
  }

  @Test
  void quantizedModelGivesEveryParameterAFiniteNonZeroGradient() {
    try (ModelChecks m = new ModelChecks(MixerRegistry.discover(), mml("on"), 3)) {
      Random rnd = new Random(6);
      Map<String, float[]> grads = m.assertAllGradientsFinite(m.randomTokens(rnd, 4, 6), m.randomTokens(rnd, 4, 6));
      assertTrue(grads.keySet().stream().anyMatch(k -> k.endsWith("w_f")), grads.keySet().toString());
    }
  }

  @Test
  void wholeQuantizedModelIsCausal() {
    try (ModelChecks m = new ModelChecks(MixerRegistry.discover(), mml("on"), 9)) {
      m.assertCausal(m.randomTokens(new Random(1), 2, 6), 2);
    }
  }

  @Test
  void initialLossIsNearUniform() {
    try (ModelChecks m = new ModelChecks(MixerRegistry.discover(), mml("on"), 9)) {
      Random rnd = new Random(1);
      double loss = m.loss(m.randomTokens(rnd, 4, 6), m.randomTokens(rnd, 4, 6));
      assertEquals(Math.log(7), loss, 0.05, "GPT-2 init gives near-uniform predictions");
    }
  }

  @Test
  void mlgruTrainsWithAndWithoutQuantization() {
    for (String quantize : List.of("off", "on")) {
      List<Double> losses = TinyTraining.losses(new MlgruMixer(), Map.of("heads", 2, "quantize", quantize), 16, 150);
      double[] fl = TinyTraining.firstAndLast(losses, 10);
      assertTrue(fl[1] < fl[0] - 0.8, "quantize=" + quantize + ": loss fell from " + fl[0] + " to " + fl[1]);
    }
  }
}
