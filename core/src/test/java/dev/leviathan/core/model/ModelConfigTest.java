package dev.leviathan.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class ModelConfigTest {
  @Test
  void singleMixerIsRepeatedPerLayer() {
    ModelConfig c = ModelConfig.builder().layers(3).tokenMixer(MixerSpec.of("aft-local")).build();
    assertEquals(3, c.tokenMixers().size());
    assertEquals("aft-local", c.tokenMixers().get(2).name());
    assertEquals(3, c.channelMixers().size());
  }

  @Test
  void perLayerListMustMatchLayers() {
    var e = assertThrows(ModelConfigException.class, () -> ModelConfig.builder().layers(4)
        .tokenMixers(List.of(MixerSpec.of("a"), MixerSpec.of("b"))).build());
    assertEquals("token-mixers lists 2 mixers but the model has 4 layers: give one mixer for all layers"
        + " or exactly one per layer", e.getMessage());
  }

  @Test
  void sizesAreValidated() {
    assertEquals("width must be >= 1, got 0",
        assertThrows(ModelConfigException.class, () -> ModelConfig.builder().width(0).build()).getMessage());
    assertEquals("context must be >= 1, got -3",
        assertThrows(ModelConfigException.class, () -> ModelConfig.builder().context(-3).build()).getMessage());
    assertEquals("vocab-size must be >= 2, got 1",
        assertThrows(ModelConfigException.class, () -> ModelConfig.builder().vocabSize(1).build()).getMessage());
    assertEquals("layers must be >= 1, got 0",
        assertThrows(ModelConfigException.class, () -> ModelConfig.builder().layers(0).build()).getMessage());
    assertEquals("dropout must be in [0, 1), got 1.0",
        assertThrows(ModelConfigException.class, () -> ModelConfig.builder().dropout(1.0).build()).getMessage());
    assertEquals("norm must be layernorm or rmsnorm, got 'batchnorm'",
        assertThrows(ModelConfigException.class, () -> NormKind.parse("batchnorm")).getMessage());
  }
}
