package dev.leviathan.trainer;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.stream.Stream;

/**
 * Flushes files and folders to the storage device ({@code fsync}), so that a rename that follows is not
 * persisted before the data it publishes. Folder syncs are best effort: some file systems refuse to open
 * a folder for syncing, and then only the files are synced.
 */
final class Durable {
  private Durable() {}

  static void fsync(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.force(true);
    }
  }

  static void fsyncDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException | UnsupportedOperationException e) {
      // not supported for folders on this file system
    }
  }

  /** Syncs every regular file directly in {@code dir}, then {@code dir} itself. */
  static void fsyncTree(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        fsync(f);
      }
    }
    fsyncDirectory(dir);
  }
}
