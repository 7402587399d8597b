package dev.leviathan.trainer;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * The exclusive lock of a run directory, held by every command that writes into it: the file
 * {@code RUN/.lock}, locked with the operating system's file lock ({@link FileChannel#tryLock}) and holding
 * {@code pid host start-time command} of the holder for messages.
 *
 * <p>The operating-system lock decides: it is released when the holder exits, however it exits. A lock file
 * that is not locked but names another process was left by a process that died (or lost its lock); it is
 * taken over with a note. Release empties the file and unlocks it; the (empty) file stays, so every
 * process always locks the same file.
 */
public final class RunLock implements AutoCloseable {
  public static final String FILE = ".lock";

  private final Path file;
  private final FileChannel channel;
  private final FileLock lock;

  private RunLock(Path file, FileChannel channel, FileLock lock) {
    this.file = file;
    this.channel = channel;
    this.lock = lock;
  }

  /** Thrown when another process holds the lock. */
  public static final class HeldException extends IllegalStateException {
    public HeldException(String message) {
      super(message);
    }
  }

  /** What a lock file says about its holder. */
  record Holder(long pid, String host, String since, String command) {
    static Holder parse(String text) {
      String[] f = text.strip().split(" ", 4);
      if (f.length < 3) {
        return null;
      }
      try {
        return new Holder(Long.parseLong(f[0]), f[1], f[2], f.length > 3 ? f[3] : "");
      } catch (NumberFormatException e) {
        return null;
      }
    }

    String line() {
      return pid + " " + host + " " + since + " " + command;
    }

    String describe() {
      return "process " + pid + " on " + host + " (started " + since + (command.isEmpty() ? "" : ", " + command) + ")";
    }
  }

  /**
   * Locks {@code runDir} (creating the folder) for {@code command}; notes (a stale lock taken over) go to
   * {@code notes}. Fails with one line naming the holder when another process has it.
   */
  public static RunLock acquire(Path runDir, String command, Consumer<String> notes) {
    Path file = runDir.resolve(FILE);
    try {
      Files.createDirectories(runDir);
      {
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
            StandardOpenOption.WRITE);
        FileLock lock;
        try {
          lock = ch.tryLock();
        } catch (OverlappingFileLockException e) {
          lock = null; // held by this very process (another command in the same JVM)
        }
        if (lock == null) {
          Holder h = Holder.parse(readQuietly(ch));
          ch.close();
          throw new HeldException("run directory " + runDir + " is in use by "
              + (h == null ? "another process" : h.describe()) + "; wait until it has finished, or stop it"
              + " and then use --resume");
        }
        Holder previous = Holder.parse(readQuietly(ch));
        if (previous != null) {
          notes.accept("taking over the lock of " + runDir + " left by " + previous.describe() + ", which "
              + (isAlive(previous) ? "no longer holds it" : "is no longer running"));
        }
        Holder me = new Holder(ProcessHandle.current().pid(), hostName(), Instant.now().toString(),
            command.replace('\n', ' '));
        ch.truncate(0);
        ch.write(ByteBuffer.wrap((me.line() + "\n").getBytes(StandardCharsets.UTF_8)), 0);
        ch.force(true);
        return new RunLock(file, ch, lock);
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot lock run directory " + runDir + " (" + e.getMessage() + "); check that"
          + " it is a writable folder, or choose another --out", e);
    }
  }

  /** Empties the lock file (no holder) and releases the lock. */
  @Override
  public void close() {
    try {
      if (channel.isOpen()) {
        channel.truncate(0);
        channel.force(true);
      }
    } catch (IOException e) {
      // the lock is released below either way; a left holder line is then taken over as stale
    }
    try {
      lock.release();
      channel.close();
    } catch (IOException e) {
      // closing releases it
    }
  }

  private static boolean isAlive(Holder h) {
    return h.host.equals(hostName()) && ProcessHandle.of(h.pid).map(ProcessHandle::isAlive).orElse(false);
  }

  private static String readQuietly(FileChannel ch) {
    try {
      ByteBuffer buf = ByteBuffer.allocate((int) Math.min(ch.size(), 4096));
      ch.read(buf, 0);
      return new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }

  static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return Objects.requireNonNullElse(System.getenv("HOSTNAME"), "localhost");
    }
  }
}
