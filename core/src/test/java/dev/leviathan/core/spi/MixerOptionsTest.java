package dev.leviathan.core.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.leviathan.core.channel.MlpChannelMixer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MixerOptionsTest {
  static final class Fake implements TokenMixerProvider {
    @Override public String name() { return "fake"; }
    @Override public String description() { return "test"; }
    @Override public int spiVersion() { return LeviathanSpi.VERSION; }
    @Override public boolean causal() { return true; }
    @Override public List<OptionSpec> options() {
      return List.of(
          OptionSpec.integer("heads", 4, 1, "heads"),
          OptionSpec.real("rate", 0.5, 0.0, "rate"),
          OptionSpec.bool("bias", true, "bias"),
          OptionSpec.choice("reduce", "learned", List.of("learned", "max"), "reduction"));
    }
    @Override public TokenMixer create(LayerContext layer, MixerOptions options) { return x -> x; }
  }

  @Test
  void defaultsAndParsing() {
    MixerOptions o = MixerOptions.resolve(new Fake(), Map.of("heads", "8", "rate", 1, "bias", "off", "reduce", "max"));
    assertEquals(8, o.getInt("heads"));
    assertEquals(1.0, o.getReal("rate"));
    assertEquals(false, o.getBool("bias"));
    assertEquals("max", o.getString("reduce"));
    assertEquals(Map.of("heads", "8", "rate", "1.0", "bias", "off", "reduce", "max"), o.asText());
    MixerOptions d = MixerOptions.resolve(new Fake(), Map.of());
    assertEquals(4, d.getInt("heads"));
    assertEquals(true, d.getBool("bias"));
  }

  @Test
  void unknownOptionListsKnownOnes() {
    var e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerOptions.resolve(new Fake(), Map.of("head", 2)));
    assertEquals("mixer 'fake' has no option 'head' (known options: heads, rate, bias, reduce)", e.getMessage());
    assertEquals("head", e.option());
  }

  @Test
  void wrongTypeNamesAllowedValues() {
    var e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerOptions.resolve(new Fake(), Map.of("heads", "four")));
    assertEquals("mixer 'fake': option 'heads' must be an integer >= 1, got 'four'", e.getMessage());
    e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerOptions.resolve(new Fake(), Map.of("reduce", "mean")));
    assertEquals("mixer 'fake': option 'reduce' must be learned|max, got 'mean'", e.getMessage());
    e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerOptions.resolve(new Fake(), Map.of("bias", "maybe")));
    assertEquals("mixer 'fake': option 'bias' must be on|off, got 'maybe'", e.getMessage());
    e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerOptions.resolve(new Fake(), Map.of("heads", 2.5)));
    assertEquals("mixer 'fake': option 'heads' must be an integer >= 1, got '2.5'", e.getMessage());
  }

  @Test
  void belowMinimum() {
    var e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerOptions.resolve(new Fake(), Map.of("heads", 0)));
    assertEquals("mixer 'fake': option 'heads' must be an integer >= 1, got 0", e.getMessage());
  }

  @Test
  void headsMustDivideWidth() {
    MixerOptions o = MixerOptions.resolve(new Fake(), Map.of("heads", 5));
    var e = assertThrows(InvalidMixerOptionException.class, () -> o.heads("heads", 12));
    assertEquals("mixer 'fake': option 'heads' = 5 is invalid: it must divide the width 12"
        + " (allowed: 1, 2, 3, 4, 6, 12)", e.getMessage());
    assertEquals(4, MixerOptions.resolve(new Fake(), Map.of()).heads("heads", 12));
  }

  @Test
  void channelMixerWithoutOptionsSaysSo() {
    var e = assertThrows(InvalidMixerOptionException.class,
        () -> MixerOptions.resolve(new MlpChannelMixer(), Map.of("hidden", 3)));
    assertEquals("mixer 'mlp' has no option 'hidden' (known options: expansion, bias)", e.getMessage());
  }
}
