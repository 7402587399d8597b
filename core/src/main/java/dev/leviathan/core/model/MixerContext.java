package dev.leviathan.core.model;

import dev.leviathan.core.spi.LayerContext;
import dev.leviathan.core.spi.Parameters;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * The {@link LayerContext} a mixer is built with: ops scoped to the mixer, the model's shape, the layer's
 * place in the stack, its parameter factory, the model's dropout ({@code null}: no dropout) and whether
 * the graph must be {@linkplain LayerContext#portable() portable}.
 */
public record MixerContext(Ops tf, int width, int context, int layer, int layers, Parameters params,
    Dropout dropoutSource, boolean portable) implements LayerContext {

  /** A context for a graph that runs in this process only (not portable). */
  public MixerContext(Ops tf, int width, int context, int layer, int layers, Parameters params, Dropout dropoutSource) {
    this(tf, width, context, layer, layers, params, dropoutSource, false);
  }

  @Override
  public Operand<TFloat32> dropout(Operand<TFloat32> x, double rate) {
    return dropoutSource == null ? x : dropoutSource.apply(tf, x, rate);
  }
}
