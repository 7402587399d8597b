package dev.leviathan.mml;

import dev.leviathan.core.spi.ParameterExport;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.zip.CRC32;

/**
 * Compact storage of ternary weights (two bits per weight plus one float32 scale per tensor) and a
 * small file format for many named tensors, ternary or float32. All numbers are big-endian.
 *
 * <p>A packed tensor ({@link #pack}, {@link #unpack}):
 *
 * <pre>
 *   scale   float32      the tensor's scale g &gt; 0
 *   count   int32        number of weights n
 *   codes   ceil(n/4) bytes; weight i sits in bits 2(i mod 4) and 2(i mod 4)+1 of byte i/4:
 *           00 = 0, 01 = +g, 10 = -g (11 is invalid); unused bits of the last byte are 0
 * </pre>
 *
 * <p>A weight file ({@link #write}, {@link #read}), version {@value #VERSION}:
 *
 * <pre>
 *   magic    4 bytes "LVTW"
 *   version  int32
 *   length   int64        number of body bytes
 *   body     count int32, then per tensor:
 *              name   uint16 byte length + UTF-8
 *              kind   byte (0 = float32, 1 = ternary)
 *              rank   byte, then rank int64 dimensions (&gt;= 0)
 *              data   float32: n float32 values; ternary: scale float32 + codes as above
 *   crc32    int32 over everything before it
 * </pre>
 *
 * Reading a truncated, corrupt or foreign file fails with an {@link IOException} whose message is one
 * line saying what is wrong.
 */
public final class TernaryPacking {
  /** Current version of the weight file format. */
  public static final int VERSION = 1;

  private static final byte[] MAGIC = {'L', 'V', 'T', 'W'};
  private static final int HEADER_BYTES = 16;
  private static final int MAX_RANK = 32;
  private static final int CODE_ZERO = 0;
  private static final int CODE_PLUS = 1;
  private static final int CODE_MINUS = 2;

  private TernaryPacking() {}

  /** How a tensor is stored in a weight file. */
  public enum Kind {
    FLOAT32,
    TERNARY
  }

  /**
   * One named tensor of a weight file. {@code values} are row-major; for {@link Kind#TERNARY} each
   * value is {@code -scale}, {@code 0} or {@code +scale}; for {@link Kind#FLOAT32} the scale is 1.
   * The arrays are not copied.
   */
  public record NamedTensor(String name, long[] shape, Kind kind, float[] values, float scale) {
    public NamedTensor {
      if (name == null || name.isEmpty()) {
        throw new IllegalArgumentException("tensor name must not be empty");
      }
      for (int i = 0; i < name.length(); i++) {
        if (Character.isISOControl(name.charAt(i))) {
          throw new IllegalArgumentException("tensor name '" + name.replaceAll("\\p{Cntrl}", "?")
              + "' contains a control character");
        }
      }
      if (name.getBytes(StandardCharsets.UTF_8).length > 0xFFFF) {
        throw new IllegalArgumentException("tensor name is longer than 65535 UTF-8 bytes");
      }
      if (shape.length > MAX_RANK) {
        throw new IllegalArgumentException("tensor '" + name + "' has rank " + shape.length + " > " + MAX_RANK);
      }
      long n = elementCount(shape);
      if (n < 0) {
        throw new IllegalArgumentException("tensor '" + name + "' has an invalid shape " + Arrays.toString(shape));
      }
      if (n != values.length) {
        throw new IllegalArgumentException("tensor '" + name + "' has shape " + Arrays.toString(shape)
            + " but " + values.length + " values");
      }
      if (kind == Kind.FLOAT32 && scale != 1f) {
        throw new IllegalArgumentException("float32 tensor '" + name + "' must have scale 1, got " + scale);
      }
      if (kind == Kind.TERNARY) {
        checkTernary(values, scale, "tensor '" + name + "'");
      }
      shape = shape.clone();
    }

    /** A full-precision tensor. */
    public static NamedTensor float32(String name, long[] shape, float[] values) {
      return new NamedTensor(name, shape, Kind.FLOAT32, values, 1f);
    }

    /** A ternary tensor: every value is {@code -scale}, {@code 0} or {@code +scale}. */
    public static NamedTensor ternary(String name, long[] shape, float[] ternaryTimesScale, float scale) {
      return new NamedTensor(name, shape, Kind.TERNARY, ternaryTimesScale, scale);
    }

    @Override
    public long[] shape() {
      return shape.clone();
    }

    @Override
    public String toString() {
      return name + Arrays.toString(shape) + " " + kind.name().toLowerCase(Locale.ROOT)
          + (kind == Kind.TERNARY ? " scale " + scale : "");
    }
  }

  // ---------------------------------------------------------------- single tensors

  /**
   * Packs ternary weights: 2 bits per weight plus the scale.
   *
   * @param ternaryTimesScale weights, each exactly {@code -scale}, {@code 0} (either sign) or {@code +scale}
   * @param scale the tensor's scale, finite and {@code > 0}
   * @throws IllegalArgumentException when a value is not ternary or the scale is not valid
   */
  public static byte[] pack(float[] ternaryTimesScale, float scale) {
    checkTernary(ternaryTimesScale, scale, "weights");
    ByteBuffer out = ByteBuffer.allocate(8 + codeBytes(ternaryTimesScale.length));
    out.putFloat(scale).putInt(ternaryTimesScale.length);
    putCodes(out, ternaryTimesScale, scale);
    return out.array();
  }

  /**
   * Unpacks what {@link #pack} wrote: the weights as {@code t * scale} ({@code t} in {-1, 0, 1}; zeros
   * come back as {@code +0}).
   *
   * @throws IllegalArgumentException when {@code packed} is not a packed ternary tensor
   */
  public static float[] unpack(byte[] packed) {
    ByteBuffer in = ByteBuffer.wrap(packed);
    float scale = readPackedHeaderScale(in);
    int count = in.getInt();
    if (count < 0 || in.remaining() != codeBytes(count)) {
      throw new IllegalArgumentException("packed ternary tensor of " + packed.length
          + " bytes does not hold " + count + " weights");
    }
    float[] values = new float[count];
    String problem = getCodes(in, values, scale);
    if (problem != null) {
      throw new IllegalArgumentException("packed ternary tensor: " + problem);
    }
    return values;
  }

  /** The scale stored in a packed tensor. */
  public static float scaleOf(byte[] packed) {
    return readPackedHeaderScale(ByteBuffer.wrap(packed));
  }

  /** Bytes {@link #pack} produces for {@code count} weights. */
  public static int packedSize(int count) {
    return 8 + codeBytes(count);
  }

  private static float readPackedHeaderScale(ByteBuffer in) {
    if (in.remaining() < 8) {
      throw new IllegalArgumentException("packed ternary tensor needs at least 8 bytes, got " + in.remaining());
    }
    float scale = in.getFloat();
    if (!(scale > 0) || !Float.isFinite(scale)) {
      throw new IllegalArgumentException("packed ternary tensor has invalid scale " + scale);
    }
    return scale;
  }

  // ---------------------------------------------------------------- files

  /** The tensors of an export: the encoded ones ternarised ({@link BitLinear#ternarize}), the others float32. */
  public static List<NamedTensor> encode(List<ParameterExport.ExportTensor> tensors) {
    List<NamedTensor> out = new ArrayList<>();
    for (ParameterExport.ExportTensor t : tensors) {
      if (t.encoded()) {
        BitLinear.Ternary q = BitLinear.ternarize(t.values());
        out.add(NamedTensor.ternary(t.name(), t.shape(), q.values(), q.scale()));
      } else {
        out.add(NamedTensor.float32(t.name(), t.shape(), t.values()));
      }
    }
    return out;
  }

  /**
   * Values to load into a model's latent weights so that its quantised forward pass uses exactly the
   * exported ternary weights: a ternary tensor {@code t g} with a fraction {@code p} of non-zeros becomes
   * {@code t g / p}, whose absmean is {@code g} again, so BitLinear re-quantises it to {@code t g}.
   */
  public static Map<String, float[]> latentValues(List<NamedTensor> tensors) {
    Map<String, float[]> out = new LinkedHashMap<>();
    for (NamedTensor t : tensors) {
      float[] v = t.values().clone();
      if (t.kind() == Kind.TERNARY) {
        long nonZero = 0;
        for (float f : v) {
          nonZero += f != 0f ? 1 : 0;
        }
        double factor = nonZero == 0 ? 1 : (double) v.length / nonZero;
        for (int i = 0; i < v.length; i++) {
          v[i] = (float) (v[i] * factor);
        }
      }
      out.put(t.name(), v);
    }
    return out;
  }

  /** Writes {@code tensors} as a weight file (names must be unique). */
  public static void write(OutputStream out, List<NamedTensor> tensors) throws IOException {
    Set<String> names = new HashSet<>();
    for (NamedTensor t : tensors) {
      if (!names.add(t.name())) {
        throw new IllegalArgumentException("tensor name '" + t.name() + "' occurs twice");
      }
    }
    ByteArrayOutputStream bodyBytes = new ByteArrayOutputStream();
    DataOutputStream body = new DataOutputStream(bodyBytes);
    body.writeInt(tensors.size());
    for (NamedTensor t : tensors) {
      byte[] name = t.name().getBytes(StandardCharsets.UTF_8);
      body.writeShort(name.length);
      body.write(name);
      body.writeByte(t.kind().ordinal());
      long[] shape = t.shape();
      body.writeByte(shape.length);
      for (long dim : shape) {
        body.writeLong(dim);
      }
      float[] v = t.values();
      if (t.kind() == Kind.FLOAT32) {
        ByteBuffer data = ByteBuffer.allocate(4 * v.length);
        data.asFloatBuffer().put(v);
        body.write(data.array());
      } else {
        ByteBuffer data = ByteBuffer.allocate(4 + codeBytes(v.length));
        data.putFloat(t.scale());
        putCodes(data, v, t.scale());
        body.write(data.array());
      }
    }
    body.flush();
    ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES);
    header.put(MAGIC).putInt(VERSION).putLong(bodyBytes.size());
    CRC32 crc = new CRC32();
    crc.update(header.array());
    byte[] b = bodyBytes.toByteArray();
    crc.update(b);
    out.write(header.array());
    out.write(b);
    out.write(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    out.flush();
  }

  /** Writes {@code tensors} to {@code file} (replacing it). */
  public static void write(Path file, List<NamedTensor> tensors) throws IOException {
    try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file))) {
      write(out, tensors);
    }
  }

  /** Reads one weight file from {@code in} (bytes after it, if any, are left unread). */
  public static List<NamedTensor> read(InputStream in) throws IOException {
    return read(in, "weight file", false);
  }

  /** Reads a weight file; errors name the file. */
  public static List<NamedTensor> read(Path file) throws IOException {
    try (InputStream in = new BufferedInputStream(Files.newInputStream(file))) {
      return read(in, file.toString(), true);
    }
  }

  private static List<NamedTensor> read(InputStream in, String what, boolean whole) throws IOException {
    byte[] header = in.readNBytes(HEADER_BYTES);
    if (header.length == 0) {
      throw failure(what, "truncated: the file is empty");
    }
    int magicBytes = Math.min(header.length, MAGIC.length);
    if (!Arrays.equals(header, 0, magicBytes, MAGIC, 0, magicBytes)) {
      throw failure(what, "not a Leviathan weight file (bad magic number)");
    }
    if (header.length < HEADER_BYTES) {
      throw failure(what, "truncated: the header has " + header.length + " of " + HEADER_BYTES + " bytes");
    }
    ByteBuffer h = ByteBuffer.wrap(header, MAGIC.length, HEADER_BYTES - MAGIC.length);
    int version = h.getInt();
    if (version != VERSION) {
      throw failure(what, "unsupported format version " + version + " (this build reads version " + VERSION + ")");
    }
    long length = h.getLong();
    if (length < 4 || length > Integer.MAX_VALUE - 64) {
      throw failure(what, "corrupt: implausible body length " + length);
    }
    byte[] body = in.readNBytes((int) length);
    if (body.length < length) {
      throw failure(what, "truncated: the body has " + body.length + " of " + length + " bytes");
    }
    byte[] stored = in.readNBytes(4);
    if (stored.length < 4) {
      throw failure(what, "truncated: the checksum is missing");
    }
    if (whole && in.read() != -1) {
      throw failure(what, "corrupt: unexpected bytes after the checksum");
    }
    CRC32 crc = new CRC32();
    crc.update(header);
    crc.update(body);
    int expected = ByteBuffer.wrap(stored).getInt();
    if (expected != (int) crc.getValue()) {
      throw failure(what, String.format("corrupt: checksum mismatch (stored %08x, computed %08x)",
          expected, (int) crc.getValue()));
    }
    try {
      return parseBody(ByteBuffer.wrap(body), what);
    } catch (BufferUnderflowException e) {
      throw failure(what, "corrupt: a tensor runs past the end of the body");
    }
  }

  private static List<NamedTensor> parseBody(ByteBuffer in, String what) throws IOException {
    int count = in.getInt();
    if (count < 0) {
      throw failure(what, "corrupt: negative tensor count " + count);
    }
    List<NamedTensor> out = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (int i = 0; i < count; i++) {
      byte[] nameBytes = new byte[Short.toUnsignedInt(in.getShort())];
      in.get(nameBytes);
      String name;
      try {
        name = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(ByteBuffer.wrap(nameBytes)).toString();
      } catch (CharacterCodingException e) {
        throw failure(what, "corrupt: the name of tensor " + i + " is not valid UTF-8");
      }
      String label = "tensor " + i + " ('" + name.replaceAll("\\p{Cntrl}", "?") + "')";
      if (!names.add(name)) {
        throw failure(what, "corrupt: " + label + " repeats a name");
      }
      int kindCode = in.get();
      if (kindCode < 0 || kindCode >= Kind.values().length) {
        throw failure(what, "corrupt: " + label + " has unknown kind " + kindCode);
      }
      Kind kind = Kind.values()[kindCode];
      int rank = Byte.toUnsignedInt(in.get());
      if (rank > MAX_RANK) {
        throw failure(what, "corrupt: " + label + " has rank " + rank);
      }
      long[] shape = new long[rank];
      for (int d = 0; d < rank; d++) {
        shape[d] = in.getLong();
      }
      long n = elementCount(shape);
      long bytes = kind == Kind.FLOAT32 ? 4 * n : 4 + codeBytes(n);
      if (n < 0 || bytes > in.remaining()) {
        throw failure(what, "corrupt: " + label + " with shape " + Arrays.toString(shape)
            + " does not fit in the file");
      }
      float[] values = new float[(int) n];
      float scale = 1f;
      if (kind == Kind.FLOAT32) {
        in.asFloatBuffer().get(values);
        in.position(in.position() + 4 * values.length);
      } else {
        scale = in.getFloat();
        if (!(scale > 0) || !Float.isFinite(scale)) {
          throw failure(what, "corrupt: " + label + " has invalid scale " + scale);
        }
        String problem = getCodes(in, values, scale);
        if (problem != null) {
          throw failure(what, "corrupt: " + label + ": " + problem);
        }
      }
      try {
        out.add(new NamedTensor(name, shape, kind, values, scale));
      } catch (IllegalArgumentException e) {
        throw failure(what, "corrupt: " + e.getMessage());
      }
    }
    if (in.hasRemaining()) {
      throw failure(what, "corrupt: " + in.remaining() + " bytes after the last tensor");
    }
    return out;
  }

  private static IOException failure(String what, String message) {
    return new IOException(what + ": " + message);
  }

  // ---------------------------------------------------------------- codes

  private static void checkTernary(float[] values, float scale, String what) {
    if (!(scale > 0) || !Float.isFinite(scale)) {
      throw new IllegalArgumentException(what + ": scale must be finite and > 0, got " + scale);
    }
    for (int i = 0; i < values.length; i++) {
      float v = values[i];
      if (v != 0f && v != scale && v != -scale) {
        throw new IllegalArgumentException(what + ": value " + v + " at index " + i
            + " is not -scale, 0 or +scale (scale " + scale + ")");
      }
    }
  }

  private static int codeBytes(int count) {
    return (int) codeBytes((long) count);
  }

  private static long codeBytes(long count) {
    return (count + 3) / 4;
  }

  /** Product of the dimensions, or -1 when a dimension is negative or the count exceeds an array. */
  private static long elementCount(long[] shape) {
    long n = 1;
    for (long d : shape) {
      if (d < 0) {
        return -1;
      }
      if (d != 0 && n > (Integer.MAX_VALUE - 8) / d) {
        return -1;
      }
      n *= d;
    }
    return n;
  }

  private static void putCodes(ByteBuffer out, float[] values, float scale) {
    int current = 0;
    for (int i = 0; i < values.length; i++) {
      float v = values[i];
      int code = v == 0f ? CODE_ZERO : v == scale ? CODE_PLUS : CODE_MINUS;
      current |= code << (2 * (i & 3));
      if ((i & 3) == 3) {
        out.put((byte) current);
        current = 0;
      }
    }
    if ((values.length & 3) != 0) {
      out.put((byte) current);
    }
  }

  /** Decodes {@code values.length} codes; returns a description of the first problem, or null. */
  private static String getCodes(ByteBuffer in, float[] values, float scale) {
    int bytes = codeBytes(values.length);
    for (int b = 0; b < bytes; b++) {
      int packed = Byte.toUnsignedInt(in.get());
      for (int k = 0; k < 4; k++) {
        int i = 4 * b + k;
        int code = (packed >>> (2 * k)) & 3;
        if (i >= values.length) {
          if (code != 0) {
            return "non-zero padding bits in the last code byte";
          }
          continue;
        }
        switch (code) {
          case CODE_ZERO -> values[i] = 0f;
          case CODE_PLUS -> values[i] = scale;
          case CODE_MINUS -> values[i] = -scale;
          default -> {
            return "invalid code 3 for weight " + i;
          }
        }
      }
    }
    return null;
  }
}
