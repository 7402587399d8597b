package dev.leviathan.trainer.cluster;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.SplitV;
import org.tensorflow.types.TFloat32;

/**
 * Many float tensors as one flat vector and back, so that one collective moves all gradients:
 * {@code pack(g_1..g_n) = concat(reshape(g_1, [-1]), ..., reshape(g_n, [-1]))} and
 * {@code unpack(v) = reshape(split(v, [|g_1|, ..., |g_n|]), shape_i)}; {@code unpack(pack(g)) = g}.
 *
 * @param shapes the static, fully defined shapes of the tensors, in pack order
 */
public record FlatPack(List<Shape> shapes) {
  public FlatPack {
    shapes = List.copyOf(shapes);
    if (shapes.isEmpty()) {
      throw new IllegalArgumentException("nothing to pack");
    }
    for (int i = 0; i < shapes.size(); i++) {
      if (shapes.get(i).isUnknown() || shapes.get(i).hasUnknownDimension()) {
        throw new IllegalArgumentException("tensor " + i + " has shape " + shapes.get(i)
            + "; packing needs fully defined shapes");
      }
    }
  }

  /** The number of floats in the packed vector. */
  public long size() {
    return shapes.stream().mapToLong(Shape::size).sum();
  }

  /** The flat vector holding every tensor, in order. */
  public Operand<TFloat32> pack(Ops tf, List<? extends Operand<TFloat32>> tensors) {
    if (tensors.size() != shapes.size()) {
      throw new IllegalArgumentException("expected " + shapes.size() + " tensors, got " + tensors.size());
    }
    if (tensors.size() == 1) {
      return tf.reshape(tensors.get(0), tf.constant(new long[] {-1}));
    }
    List<Operand<TFloat32>> flat = new ArrayList<>();
    for (Operand<TFloat32> t : tensors) {
      flat.add(tf.reshape(t, tf.constant(new long[] {-1})));
    }
    return tf.concat(flat, tf.constant(0));
  }

  /** The tensors back from a vector made by {@link #pack}, with their shapes. */
  public List<Operand<TFloat32>> unpack(Ops tf, Operand<TFloat32> flat) {
    long[] sizes = shapes.stream().mapToLong(Shape::size).toArray();
    List<Operand<TFloat32>> out = new ArrayList<>();
    if (shapes.size() == 1) {
      out.add(tf.reshape(flat, tf.constant(shapes.get(0).asArray())));
      return out;
    }
    SplitV<TFloat32> parts = tf.splitV(flat, tf.constant(sizes), tf.constant(0), (long) sizes.length);
    for (int i = 0; i < sizes.length; i++) {
      out.add(tf.reshape(parts.output().get(i), tf.constant(shapes.get(i).asArray())));
    }
    return out;
  }
}
