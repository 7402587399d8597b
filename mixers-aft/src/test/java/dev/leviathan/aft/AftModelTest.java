package dev.leviathan.aft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.spi.TokenMixerProvider;
import dev.leviathan.core.testing.ModelChecks;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class AftModelTest {
  /** Each AFT mixer with small options that fit a context of 6. */
  private static final Map<String, Map<String, Object>> MIXERS = Map.of(
      "aft-full", Map.of("bias-rank", 2),
      "aft-local", Map.of("window", 2, "bias-rank", 2),
      "aft-simple", Map.of(),
      "aft-conv", Map.of("heads", 2, "kernel", 3));

  @Test
  void serviceLoaderFindsAllFourInThisModule() {
    MixerRegistry r = MixerRegistry.discover();
    Map<String, Class<? extends TokenMixerProvider>> expected = Map.of(
        "aft-full", AftFullMixer.class,
        "aft-local", AftLocalMixer.class,
        "aft-simple", AftSimpleMixer.class,
        "aft-conv", AftConvMixer.class);
    expected.forEach((name, type) -> {
      assertTrue(r.hasTokenMixer(name), name);
      assertEquals(type, r.tokenMixer(name).getClass());
      assertTrue(r.tokenMixer(name).causal(), name);
      assertTrue(r.tokenMixerInfo(name).source().contains("mixers-aft"), r.tokenMixerInfo(name).source());
    });
  }

  private static ModelConfig tiny(String mixer) {
    return ModelConfig.builder().vocabSize(7).context(6).width(8).layers(2)
        .tokenMixer(MixerSpec.of(mixer, MIXERS.get(mixer)))
        .channelMixer(MixerSpec.of("mlp")).build();
  }

  /** A tiny model around {@code mixer} with every weight moved away from its init. */
  private static ModelChecks perturbed(String mixer, Random rnd) {
    ModelChecks m = new ModelChecks(MixerRegistry.discover(), tiny(mixer), 3);
    // (gamma = beta = 0 at init would give the aft-conv kernel no gradient yet)
    m.perturbParameters(rnd, 0.3);
    return m;
  }

  @Test
  void everyParameterGetsAFiniteNonZeroGradientInAModel() {
    for (String mixer : MIXERS.keySet()) {
      Random rnd = new Random(4);
      try (ModelChecks m = perturbed(mixer, rnd)) {
        m.assertAllGradientsFinite(m.randomTokens(rnd, 2, 6), m.randomTokens(rnd, 2, 6));
      }
    }
  }

  @Test
  void modelGradientsMatchFiniteDifferences() {
    for (String mixer : new String[] {"aft-local", "aft-conv"}) {
      Random rnd = new Random(5);
      try (ModelChecks m = perturbed(mixer, rnd)) {
        m.checkGradients(m.randomTokens(rnd, 2, 6), m.randomTokens(rnd, 2, 6), 1e-2, 3e-2, 2, 5);
      }
    }
  }

  @Test
  void wholeModelIsCausal() {
    for (String mixer : MIXERS.keySet()) {
      try (ModelChecks m = new ModelChecks(MixerRegistry.discover(), tiny(mixer), 9)) {
        m.assertCausal(m.randomTokens(new Random(1), 2, 6), 2);
      }
    }
  }
}
