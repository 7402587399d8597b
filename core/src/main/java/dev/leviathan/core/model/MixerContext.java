package dev.leviathan.core.model;

import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.Parameters;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The {@link LayerContext} a mixer is built with: ops scoped to the mixer, the model's shape, the layer's
 * place in the stack, its parameter factory and the model's dropout ({@code null}: no dropout).
 */
public record MixerContext(Ops tf, int width, int context, int layer, int layers, Parameters params,
    Dropout dropoutSource) implements LayerContext {

  @Override
  public Operand<TFloat32> dropout(Operand<TFloat32> x, double rate) {
    return dropoutSource == null ? x : dropoutSource.apply(tf, x, rate);
  }
}
