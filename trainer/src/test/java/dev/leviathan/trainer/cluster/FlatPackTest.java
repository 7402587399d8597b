package dev.leviathan.trainer.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/** Packing tensors into one flat vector (in order, row-major) and unpacking it restores every tensor. */
class FlatPackTest {
  @Test
  void packIsTheRowMajorConcatenationAndUnpackInvertsIt() {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> m = tf.constant(new float[][] {{1, 2, 3}, {4, 5, 6}});
      Operand<TFloat32> scalar = tf.constant(7f);
      Operand<TFloat32> v = tf.constant(new float[] {8, 9});
      FlatPack pack = new FlatPack(List.of(Shape.of(2, 3), Shape.scalar(), Shape.of(2)));
      assertEquals(9, pack.size());
      Operand<TFloat32> flat = pack.pack(tf, List.of(m, scalar, v));
      List<Operand<TFloat32>> back = pack.unpack(tf, tf.math.mul(flat, tf.constant(2f)));
      try (Result r = s.runner().fetch(flat).fetch(back.get(0)).fetch(back.get(1)).fetch(back.get(2)).run()) {
        TFloat32 f = (TFloat32) r.get(0);
        assertEquals(Shape.of(9), f.shape());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, ClusterWorkerMain.floats(f, 9));
        TFloat32 m2 = (TFloat32) r.get(1);
        assertEquals(Shape.of(2, 3), m2.shape());
        assertEquals(12f, m2.getFloat(1, 2));
        assertEquals(2f, m2.getFloat(0, 0));
        assertEquals(Shape.scalar(), r.get(2).shape());
        assertEquals(14f, ((TFloat32) r.get(2)).getFloat());
        assertArrayEquals(new float[] {16, 18}, ClusterWorkerMain.floats((TFloat32) r.get(3), 2));
      }
    }
  }

  @Test
  void oneTensorIsReshapedOnly() {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      FlatPack pack = new FlatPack(List.of(Shape.of(2, 2)));
      Operand<TFloat32> flat = pack.pack(tf, List.of(tf.constant(new float[][] {{1, 2}, {3, 4}})));
      try (Result r = s.runner().fetch(pack.unpack(tf, flat).get(0)).run()) {
        assertEquals(Shape.of(2, 2), r.get(0).shape());
        assertEquals(3f, ((TFloat32) r.get(0)).getFloat(1, 0));
      }
    }
  }

  @Test
  void refusesUnknownShapesAndWrongCounts() {
    assertThrows(IllegalArgumentException.class, () -> new FlatPack(List.of(Shape.of(-1, 3))));
    assertThrows(IllegalArgumentException.class, () -> new FlatPack(List.of()));
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      FlatPack pack = new FlatPack(List.of(Shape.of(1), Shape.of(1)));
      assertThrows(IllegalArgumentException.class, () -> pack.pack(tf, List.of(tf.constant(new float[] {1}))));
    }
  }
}
