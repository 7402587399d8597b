package dev.leviathan.trainer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.tensorflow.proto.Event;

/**
 * TensorBoard event files read back without TensorFlow: a file is a sequence of TFRecords, each
 * {@code uint64 length, uint32 masked_crc32c(length bytes), data, uint32 masked_crc32c(data)} (little
 * endian), where {@code masked(c) = ((c >>> 15) | (c << 17)) + 0xa282ead8 (mod 2^32)}; each record's data
 * is one serialized {@link Event}.
 */
public final class EventFiles {
  /** TensorFlow's file name prefix for event files. */
  public static final String PREFIX = "events.out.tfevents.";

  private EventFiles() {}

  /** The masked CRC-32C of {@code len} bytes of {@code b} from {@code off}. */
  public static int maskedCrc(byte[] b, int off, int len) {
    CRC32C crc = new CRC32C();
    crc.update(b, off, len);
    int c = (int) crc.getValue();
    return ((c >>> 15) | (c << 17)) + 0xa282ead8;
  }

  /** The data of every record of {@code file}; fails on a truncated record or a CRC mismatch. */
  public static List<byte[]> records(Path file) {
    byte[] all = read(file);
    ByteBuffer buf = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
    List<byte[]> out = new ArrayList<>();
    while (buf.hasRemaining()) {
      if (buf.remaining() < 12) {
        throw new IllegalStateException(file + ": truncated record header at byte " + buf.position());
      }
      int start = buf.position();
      long length = buf.getLong();
      int lengthCrc = buf.getInt();
      if (lengthCrc != maskedCrc(all, start, 8)) {
        throw new IllegalStateException(file + ": length CRC mismatch at byte " + start);
      }
      if (length < 0 || length > buf.remaining() - 4) {
        throw new IllegalStateException(file + ": truncated record at byte " + start);
      }
      byte[] data = new byte[(int) length];
      buf.get(data);
      if (buf.getInt() != maskedCrc(data, 0, data.length)) {
        throw new IllegalStateException(file + ": data CRC mismatch in the record at byte " + start);
      }
      out.add(data);
    }
    return out;
  }

  /** Frames {@code data} as one TFRecord. */
  public static byte[] frame(byte[] data) {
    ByteBuffer b = ByteBuffer.allocate(data.length + 16).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(data.length);
    b.putInt(maskedCrc(b.array(), 0, 8));
    b.put(data);
    b.putInt(maskedCrc(data, 0, data.length));
    return b.array();
  }

  /** The events of {@code file}, in file order. */
  public static List<Event> events(Path file) {
    List<Event> out = new ArrayList<>();
    for (byte[] r : records(file)) {
      out.add(parse(r, file));
    }
    return out;
  }

  /** The event files of {@code dir}, sorted by name (TensorFlow names them by creation time). */
  public static List<Path> files(Path dir) {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().startsWith(PREFIX)).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Every event of every event file in {@code dir}. */
  public static List<Event> eventsIn(Path dir) {
    List<Event> out = new ArrayList<>();
    files(dir).forEach(f -> out.addAll(events(f)));
    return out;
  }

  /**
   * Rewrites (atomically) each event file of {@code dir} that holds an event matching {@code drop}
   * without those events; used on resume to forget what was logged after the checkpoint.
   */
  public static void removeEvents(Path dir, Predicate<Event> drop) {
    for (Path f : files(dir)) {
      List<byte[]> keep = new ArrayList<>();
      boolean changed = false;
      for (byte[] r : records(f)) {
        if (drop.test(parse(r, f))) {
          changed = true;
        } else {
          keep.add(r);
        }
      }
      if (changed) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        keep.forEach(r -> out.writeBytes(frame(r)));
        AtomicFiles.write(f, out.toByteArray());
      }
    }
  }

  private static Event parse(byte[] data, Path file) {
    try {
      return Event.parseFrom(data);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new IllegalStateException(file + ": a record is not an Event (" + e.getMessage() + ")");
    }
  }

  private static byte[] read(Path file) {
    try {
      return Files.readAllBytes(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
