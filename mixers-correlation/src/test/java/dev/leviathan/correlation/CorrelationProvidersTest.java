package dev.leviathan.correlation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.spi.LeviathanSpi;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CorrelationProvidersTest {
  @Test
  void serviceLoaderFindsTheThreeProvidersInThisModule() {
    MixerRegistry r = MixerRegistry.discover();
    Map<String, Class<?>> expected = Map.of(
        "correlation", CorrelationMixer.class,
        "correlation-time", CorrelationTimeMixer.class,
        "correlation-literal", CorrelationLiteralMixer.class);
    expected.forEach((name, type) -> {
      TokenMixerProvider p = r.tokenMixer(name);
      assertEquals(type, p.getClass(), name);
      assertEquals(LeviathanSpi.VERSION, p.spiVersion(), name);
      String source = r.tokenMixerInfo(name).source();
      assertTrue(source.contains("mixers-correlation"), name + " came from " + source);
    });
    assertTrue(r.tokenMixer("correlation").causal());
    assertTrue(r.tokenMixer("correlation-time").causal());
    assertFalse(r.tokenMixer("correlation-literal").causal());
  }

  @Test
  void declaredOptionsAndDefaults() {
    assertEquals(List.of("heads=4", "lags=2", "reduce=learned", "padding=zero", "bias=on"),
        describe(new CorrelationMixer().options()));
    assertEquals(List.of("heads=4", "lags=2", "bias=on"), describe(new CorrelationTimeMixer().options()));
    assertEquals(List.of("heads=4", "bias=on"), describe(new CorrelationLiteralMixer().options()));
  }

  private static List<String> describe(List<OptionSpec> specs) {
    return specs.stream().map(s -> s.name() + "=" + s.defaultText()).toList();
  }
}
