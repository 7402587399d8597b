package dev.leviathan.mml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.mml.TernaryPacking.Kind;
import dev.leviathan.mml.TernaryPacking.NamedTensor;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TernaryPackingTest {
  static float[] ternary(Random rnd, int n, float scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (rnd.nextInt(3) - 1) * scale;
      if (v[i] == 0f) {
        v[i] = 0f; // +0
      }
    }
    return v;
  }

  static void assertSameBits(float[] expected, float[] actual) {
    assertEquals(expected.length, actual.length);
    for (int i = 0; i < expected.length; i++) {
      assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]), "element " + i);
    }
  }

  @Test
  void packRoundTripsExactlyForEveryLengthModuloFour() {
    Random rnd = new Random(1);
    for (int n : new int[] {0, 1, 2, 3, 4, 5, 7, 8, 9, 1001}) {
      float scale = (float) (0.001 + rnd.nextDouble());
      float[] v = ternary(rnd, n, scale);
      byte[] packed = TernaryPacking.pack(v, scale);
      assertEquals(8 + (n + 3) / 4, packed.length, "2 bits per weight plus scale and count");
      assertEquals(TernaryPacking.packedSize(n), packed.length);
      assertEquals(scale, TernaryPacking.scaleOf(packed));
      assertSameBits(v, TernaryPacking.unpack(packed));
    }
  }

  @Test
  void codesAreTwoBitsLittleEndWithinEachByte() {
    float s = 0.5f;
    byte[] packed = TernaryPacking.pack(new float[] {s, -s, 0f, s, -s}, s);
    // weight i at bits 2(i mod 4): 01, 10, 00, 01 -> 0b01_00_10_01; then 10 with zero padding
    assertEquals((byte) 0b01001001, packed[8]);
    assertEquals((byte) 0b00000010, packed[9]);
  }

  @Test
  void negativeZeroPacksAsZero() {
    float[] back = TernaryPacking.unpack(TernaryPacking.pack(new float[] {-0f, 2f}, 2f));
    assertEquals(0, Float.floatToRawIntBits(back[0]));
    assertEquals(2f, back[1]);
  }

  @Test
  void packRejectsValuesThatAreNotTernaryAndBadScales() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TernaryPacking.pack(new float[] {0.25f, 0.3f}, 0.25f));
    assertEquals("weights: value 0.3 at index 1 is not -scale, 0 or +scale (scale 0.25)", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> TernaryPacking.pack(new float[] {0f}, 0f));
    assertThrows(IllegalArgumentException.class, () -> TernaryPacking.pack(new float[] {0f}, Float.NaN));
    assertThrows(IllegalArgumentException.class, () -> TernaryPacking.pack(new float[] {0f}, -1f));
  }

  @Test
  void unpackRejectsMalformedBytes() {
    byte[] packed = TernaryPacking.pack(new float[] {1f, -1f, 0f}, 1f);
    assertThrows(IllegalArgumentException.class, () -> TernaryPacking.unpack(Arrays.copyOf(packed, 8)));
    byte[] invalidCode = packed.clone();
    invalidCode[8] = (byte) 0b00000011;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TernaryPacking.unpack(invalidCode));
    assertTrue(e.getMessage().contains("invalid code 3 for weight 0"), e.getMessage());
    byte[] padding = packed.clone();
    padding[8] |= (byte) 0b01000000;
    assertThrows(IllegalArgumentException.class, () -> TernaryPacking.unpack(padding));
  }

  static List<NamedTensor> sample() {
    Random rnd = new Random(2);
    float[] full = new float[6];
    for (int i = 0; i < full.length; i++) {
      full[i] = (float) rnd.nextGaussian();
    }
    full[5] = Float.NaN;
    return List.of(
        NamedTensor.ternary("block0/token/w_f", new long[] {4, 3}, ternary(rnd, 12, 0.0173f), 0.0173f),
        NamedTensor.float32("block0/token/norm_f", new long[] {2, 3}, full),
        NamedTensor.ternary("bloc\u00e71/w_o", new long[] {5}, ternary(rnd, 5, 3e-5f), 3e-5f),
        NamedTensor.float32("scalar", new long[] {}, new float[] {-2.5f}),
        NamedTensor.ternary("empty", new long[] {0, 7}, new float[0], 1f));
  }

  static byte[] write(List<NamedTensor> tensors) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    TernaryPacking.write(out, tensors);
    return out.toByteArray();
  }

  @Test
  void fileRoundTripsNamesShapesKindsAndValuesExactly(@TempDir Path dir) throws IOException {
    List<NamedTensor> tensors = sample();
    Path file = dir.resolve("model.lvw");
    TernaryPacking.write(file, tensors);
    List<NamedTensor> back = TernaryPacking.read(file);
    assertEquals(tensors.size(), back.size());
    for (int i = 0; i < tensors.size(); i++) {
      NamedTensor a = tensors.get(i), b = back.get(i);
      assertEquals(a.name(), b.name());
      assertArrayEquals(a.shape(), b.shape());
      assertEquals(a.kind(), b.kind());
      assertEquals(Float.floatToRawIntBits(a.scale()), Float.floatToRawIntBits(b.scale()));
      assertSameBits(a.values(), b.values());
    }
    // ternary tensors take 2 bits per weight: the 12-weight tensor costs 4 (scale) + 3 bytes of data
    byte[] one = write(List.of(tensors.get(0)));
    int header = 16, count = 4, crc = 4;
    int entry = 2 + "block0/token/w_f".length() + 1 + 1 + 2 * 8;
    assertEquals(header + count + entry + 4 + 3 + crc, one.length);
    assertEquals(one.length, Files.size(write(dir, "one.lvw", List.of(tensors.get(0)))));
  }

  private static Path write(Path dir, String name, List<NamedTensor> tensors) throws IOException {
    Path p = dir.resolve(name);
    TernaryPacking.write(p, tensors);
    return p;
  }

  @Test
  void everyTruncationFailsWithAOneLineIOException() throws IOException {
    byte[] bytes = write(sample());
    for (int len = 0; len < bytes.length; len++) {
      byte[] cut = Arrays.copyOf(bytes, len);
      IOException e = assertThrows(IOException.class, () -> TernaryPacking.read(new ByteArrayInputStream(cut)),
          "file cut to " + len + " bytes");
      assertOneLine(e);
      assertTrue(e.getMessage().contains("truncated"), len + ": " + e.getMessage());
    }
  }

  @Test
  void everyFlippedByteFailsWithAOneLineIOException() throws IOException {
    byte[] bytes = write(sample());
    for (int i = 0; i < bytes.length; i++) {
      for (int bit : new int[] {0, 7}) {
        byte[] bad = bytes.clone();
        bad[i] ^= (byte) (1 << bit);
        IOException e = assertThrows(IOException.class, () -> TernaryPacking.read(new ByteArrayInputStream(bad)),
            "byte " + i + " bit " + bit);
        assertOneLine(e);
      }
    }
  }

  @Test
  void explainsWhatIsWrong(@TempDir Path dir) throws IOException {
    byte[] bytes = write(sample());
    Path foreign = dir.resolve("foreign.bin");
    Files.write(foreign, "PK\u0003\u0004 not ours at all".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
    IOException e = assertThrows(IOException.class, () -> TernaryPacking.read(foreign));
    assertEquals(foreign + ": not a Leviathan weight file (bad magic number)", e.getMessage());

    byte[] newer = bytes.clone();
    newer[7] = 2;
    e = assertThrows(IOException.class, () -> TernaryPacking.read(new ByteArrayInputStream(newer)));
    assertEquals("weight file: unsupported format version 2 (this build reads version 1)", e.getMessage());

    Path cut = dir.resolve("cut.lvw");
    Files.write(cut, Arrays.copyOf(bytes, bytes.length - 10));
    e = assertThrows(IOException.class, () -> TernaryPacking.read(cut));
    assertTrue(e.getMessage().startsWith(cut + ": truncated: the body has "), e.getMessage());

    byte[] flipped = bytes.clone();
    flipped[40] ^= 1;
    e = assertThrows(IOException.class, () -> TernaryPacking.read(new ByteArrayInputStream(flipped)));
    assertTrue(e.getMessage().startsWith("weight file: corrupt: checksum mismatch"), e.getMessage());

    Path longer = dir.resolve("longer.lvw");
    byte[] extra = Arrays.copyOf(bytes, bytes.length + 1);
    Files.write(longer, extra);
    e = assertThrows(IOException.class, () -> TernaryPacking.read(longer));
    assertEquals(longer + ": corrupt: unexpected bytes after the checksum", e.getMessage());
    // a stream may carry more after the file
    assertEquals(5, TernaryPacking.read(new ByteArrayInputStream(extra)).size());

    Path empty = dir.resolve("empty.lvw");
    Files.write(empty, new byte[0]);
    e = assertThrows(IOException.class, () -> TernaryPacking.read(empty));
    assertEquals(empty + ": truncated: the file is empty", e.getMessage());
  }

  @Test
  void writeRejectsDuplicateNamesAndInconsistentTensors() {
    NamedTensor a = NamedTensor.float32("w", new long[] {1}, new float[] {1f});
    assertThrows(IllegalArgumentException.class, () -> write(List.of(a, a)));
    assertThrows(IllegalArgumentException.class, () -> NamedTensor.float32("w", new long[] {2, 2}, new float[3]));
    assertThrows(IllegalArgumentException.class, () -> NamedTensor.float32("", new long[] {1}, new float[1]));
    assertThrows(IllegalArgumentException.class, () -> NamedTensor.float32("a\nb", new long[] {1}, new float[1]));
    assertThrows(IllegalArgumentException.class, () -> NamedTensor.float32("w", new long[] {-1}, new float[0]));
    assertThrows(IllegalArgumentException.class,
        () -> NamedTensor.ternary("w", new long[] {2}, new float[] {0.5f, 0.2f}, 0.5f));
    assertThrows(IllegalArgumentException.class,
        () -> new NamedTensor("w", new long[] {1}, Kind.FLOAT32, new float[] {1f}, 2f));
  }

  @Test
  void bitLinearExportRoundTripsThroughAFile(@TempDir Path dir) throws IOException {
    Random rnd = new Random(3);
    float[] latent = new float[40];
    for (int i = 0; i < latent.length; i++) {
      latent[i] = (float) (rnd.nextGaussian() * 0.02);
    }
    BitLinear.Ternary t = BitLinear.ternarize(latent);
    Path file = write(dir, "bl.lvw", List.of(NamedTensor.ternary("w_f", new long[] {8, 5}, t.values(), t.scale())));
    NamedTensor back = TernaryPacking.read(file).get(0);
    assertEquals(Kind.TERNARY, back.kind());
    assertEquals(t.scale(), back.scale());
    assertSameBits(t.values(), back.values());
    assertFalse(Arrays.equals(latent, back.values()), "the file holds the quantised, not the latent, weights");
  }

  static void assertOneLine(IOException e) {
    assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), "message missing");
    assertFalse(e.getMessage().contains("\n") || e.getMessage().contains("\r"), "multi-line: " + e.getMessage());
  }
}
