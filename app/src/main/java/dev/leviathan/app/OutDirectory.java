package dev.leviathan.app;

import dev.leviathan.trainer.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Checks, before any work, that a folder a command will write can be written, with the fix in the message. */
final class OutDirectory {
  private OutDirectory() {}

  /**
   * {@code dir} must be a folder or not exist yet, and its nearest existing ancestor must be a writable
   * folder; {@code option} names the flag for the message.
   */
  static void requireUsable(Path dir, String option) {
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new ConfigException(option + " " + dir + " is a file, not a folder; pass a folder path (new or"
          + " existing) with " + option);
    }
    Path p = dir.toAbsolutePath();
    while (p != null && !Files.exists(p)) {
      p = p.getParent();
    }
    if (p == null) {
      return;
    }
    if (!Files.isDirectory(p)) {
      throw new ConfigException(option + " " + dir + " cannot be created: " + p + " is a file, not a folder; pass a"
          + " path under a writable folder with " + option);
    }
    if (!Files.isWritable(p) || p.startsWith("/proc") || p.startsWith("/sys")) {
      throw new ConfigException(option + " " + dir + " cannot be created: " + p + " is not writable; pass a path"
          + " under a folder you can write with " + option);
    }
  }
}
