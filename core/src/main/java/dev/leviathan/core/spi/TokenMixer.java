package dev.leviathan.core.spi;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * A token mixer created for one layer. {@link #apply} maps {@code [B, T, C] -> [B, T, C]} with graph
 * ops; {@code B} and {@code T} may be unknown until run time ({@code T <= context}). It may be applied
 * more than once (training graph, sampling graph): the parameters are shared, created once at
 * construction.
 */
@FunctionalInterface
public interface TokenMixer {
  Operand<TFloat32> apply(Operand<TFloat32> x);
}
