package dev.leviathan.mml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.ParameterExport;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The ternary export capability of the matmul-less providers: which parameters it encodes, and how. */
class TernaryExportTest {
  @Test
  void encodesTheLatentWeightsOfQuantisedLayersOnly() {
    for (ParameterExport e : List.<ParameterExport>of(new MlgruMixer(), new GluMmlChannelMixer())) {
      MixerOptions on = MixerOptions.resolve((dev.leviathan.core.spi.MixerProvider) e, Map.of("quantize", "on"));
      MixerOptions off = MixerOptions.resolve((dev.leviathan.core.spi.MixerProvider) e, Map.of("quantize", "off"));
      assertEquals("ternary", e.exportFormat());
      assertTrue(e.encodes("w_f", on));
      assertFalse(e.encodes("w_f", off));
      assertFalse(e.encodes("gain", on));
    }
  }

  @Test
  void writesEncodedTensorsAsTheirTernaryQuantisationAndTheRestAsFloat32() throws Exception {
    float[] w = {0.5f, -0.02f, 1.5f, -0.9f, 0.0f, 0.3f};
    float[] b = {0.25f, -0.75f};
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    new MlgruMixer().write(bytes, List.of(new ParameterExport.ExportTensor("block0/mix/w_f", new long[] {2, 3}, w, true),
        new ParameterExport.ExportTensor("head/norm/gain", new long[] {2}, b, false)));
    List<TernaryPacking.NamedTensor> back = TernaryPacking.read(new ByteArrayInputStream(bytes.toByteArray()));
    assertEquals(2, back.size());
    BitLinear.Ternary q = BitLinear.ternarize(w);
    assertEquals(TernaryPacking.Kind.TERNARY, back.get(0).kind());
    assertArrayEquals(q.values(), back.get(0).values());
    assertEquals(q.scale(), back.get(0).scale());
    assertArrayEquals(new long[] {2, 3}, back.get(0).shape());
    assertEquals(TernaryPacking.Kind.FLOAT32, back.get(1).kind());
    assertArrayEquals(b, back.get(1).values());
  }
}
