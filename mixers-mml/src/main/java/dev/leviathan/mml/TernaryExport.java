package dev.leviathan.mml;

import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.ParameterExport;
import java.io.IOException;
import java.io.OutputStream;
import java.util.List;

/**
 * The {@code ternary} export of the matmul-less mixers: with {@code quantize=on}, each BitLinear latent
 * weight ({@code w_*}) is stored as its ternary quantisation ({@link BitLinear#ternarize}) at 2 bits per
 * weight plus one float32 scale, in the {@link TernaryPacking} file format.
 */
public interface TernaryExport extends ParameterExport {
  @Override
  default String exportFormat() {
    return "ternary";
  }

  @Override
  default String encodedWords() {
    return "ternary at 2 bits";
  }

  @Override
  default boolean encodes(String parameter, MixerOptions options) {
    return options.getBool("quantize") && parameter.startsWith("w_");
  }

  @Override
  default void write(OutputStream out, List<ExportTensor> tensors) throws IOException {
    TernaryPacking.write(out, TernaryPacking.encode(tensors));
  }
}
