package dev.leviathan.core.spi;

import java.io.IOException;
import java.io.OutputStream;
import java.util.List;

/**
 * An optional capability of a {@link MixerProvider}: it defines an export file format that encodes some
 * of its mixer's parameters in a special way (e.g. the ternary codes of quantised BitLinear weights) and
 * stores every other parameter of the model as float32. {@code leviathan export --format NAME} asks the
 * registry for providers with this capability, so a plugin can add a format of its own.
 */
public interface ParameterExport {
  /** The format's name on the command line, e.g. {@code ternary}. */
  String exportFormat();

  /** How the encoded tensors are described in the export summary, e.g. {@code ternary at 2 bits}. */
  String encodedWords();

  /**
   * Whether the format encodes the parameter {@code parameter} (its name within the mixer, as given to
   * {@link Parameters#create}) of this provider's mixer built with {@code options}.
   */
  boolean encodes(String parameter, MixerOptions options);

  /** Writes the file: every tensor of the model in order; those with {@code encoded} in this format's code. */
  void write(OutputStream out, List<ExportTensor> tensors) throws IOException;

  /** One parameter of the model: full name, shape, values (row-major) and whether the format encodes it. */
  record ExportTensor(String name, long[] shape, float[] values, boolean encoded) {}
}
