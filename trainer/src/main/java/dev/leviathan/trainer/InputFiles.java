package dev.leviathan.trainer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Function;

/**
 * Reads the files a user names (config, data) with a size limit, failing with one sentence that names
 * the file, the cause and the fix: missing, a folder, not a regular file (a device or pipe, which could be
 * endless), unreadable, too large for memory, or (for text) binary.
 */
public final class InputFiles {
  /** Config files are small; anything larger is not a config. */
  public static final long CONFIG_LIMIT = 1L << 20;

  private InputFiles() {}

  /**
   * The bytes of {@code file}.
   *
   * @param what "config file", "data file", for messages
   * @param flag the option that named it ("--config", "--data")
   * @param limit the most bytes accepted
   * @param limitFix how to get past the limit
   */
  public static byte[] read(Path file, String what, String flag, long limit, String limitFix,
      Function<String, RuntimeException> error) {
    if (Files.isDirectory(file)) {
      throw error.apply(what + " " + file + " is a folder, not a file; pass a file with " + flag);
    }
    if (!Files.exists(file)) {
      throw error.apply(what + " " + file + " does not exist; check the " + flag + " path");
    }
    if (!Files.isRegularFile(file)) {
      throw error.apply(what + " " + file + " is not a regular file (a device, pipe or socket); pass a file with "
          + flag);
    }
    try {
      long size = Files.size(file);
      if (size > limit) {
        throw error.apply(what + " " + file + " is " + size(size) + ", more than the " + size(limit) + " it may have; "
            + limitFix);
      }
      try (InputStream in = Files.newInputStream(file)) {
        byte[] bytes = in.readNBytes((int) limit + 1);
        if (bytes.length > limit) { // it grew while being read
          throw error.apply(what + " " + file + " is larger than the " + size(limit) + " it may have; " + limitFix);
        }
        return bytes;
      }
    } catch (NoSuchFileException e) {
      throw error.apply(what + " " + file + " does not exist; check the " + flag + " path");
    } catch (AccessDeniedException e) {
      throw error.apply(what + " " + file + " is not readable (permission denied); make it readable (chmod a+r) or"
          + " pass another file with " + flag);
    } catch (IOException e) {
      throw error.apply("cannot read " + what + " " + file + " (" + e.getMessage() + "); check the file and the disk,"
          + " or pass another file with " + flag);
    }
  }

  /** {@link #read} for a UTF-8 text file; binary content (a NUL byte, or not UTF-8) is refused. */
  public static String readText(Path file, String what, String flag, long limit, String limitFix, String binaryFix,
      Function<String, RuntimeException> error) {
    byte[] bytes = read(file, what, flag, limit, limitFix, error);
    for (int i = 0; i < bytes.length; i++) {
      if (bytes[i] == 0) {
        throw error.apply(what + " " + file + " is not a text file (binary data at byte " + i + "); " + binaryFix);
      }
    }
    try {
      return utf8(bytes);
    } catch (CharacterCodingException e) {
      throw error.apply(what + " " + file + " is not UTF-8 text; " + binaryFix);
    }
  }

  /** {@code bytes} decoded as UTF-8, refusing malformed input instead of replacing it. */
  static String utf8(byte[] bytes) throws CharacterCodingException {
    return StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT)
        .decode(java.nio.ByteBuffer.wrap(bytes)).toString();
  }

  /**
   * The largest data file this Java heap holds while it is tokenised: the bytes, the decoded text and the
   * int token arrays take about 12 bytes per byte of the file.
   */
  public static long dataLimit() {
    return Math.min(Integer.MAX_VALUE - 16L, Runtime.getRuntime().maxMemory() / 12);
  }

  static String size(long bytes) {
    if (bytes < 1L << 20) {
      return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
    }
    return bytes < 1L << 30 ? String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20))
        : String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
  }
}
