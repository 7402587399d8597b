package dev.leviathan.core.spi;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/** A channel mixer created for one layer: {@code [B, T, C] -> [B, T, C]}, position-wise. */
@FunctionalInterface
public interface ChannelMixer {
  Operand<TFloat32> apply(Operand<TFloat32> x);
}
