package dev.leviathan.app.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;

/**
 * Resident memory of a process as Linux reports it in {@code /proc/PID/status}: {@code VmRSS} (resident
 * now) and {@code VmHWM} (the peak resident set, "high water mark"). On systems without {@code /proc}
 * every reading is empty.
 */
final class ProcMemory {
  private ProcMemory() {}

  /** Resident set of process {@code pid} ({@code "self"} for this one), in KiB. */
  static OptionalLong residentKb(String pid) {
    return field(pid, "VmRSS:");
  }

  /** Peak resident set of process {@code pid} since it started or since {@link #resetPeak()}, in KiB. */
  static OptionalLong peakKb(String pid) {
    return field(pid, "VmHWM:");
  }

  /**
   * Resets this process's peak resident set to its current resident set (writes {@code 5} to
   * {@code /proc/self/clear_refs}, Linux 4.0 and later). Returns false where that is not possible.
   */
  static boolean resetPeak() {
    try {
      Files.writeString(Path.of("/proc/self/clear_refs"), "5", StandardCharsets.US_ASCII);
      return true;
    } catch (IOException | UnsupportedOperationException | SecurityException e) {
      return false;
    }
  }

  /** Total physical memory in KiB ({@code MemTotal} of {@code /proc/meminfo}), if known. */
  static OptionalLong totalKb() {
    return read(Path.of("/proc/meminfo"), "MemTotal:");
  }

  private static OptionalLong field(String pid, String name) {
    return read(Path.of("/proc", pid, "status"), name);
  }

  private static OptionalLong read(Path file, String name) {
    try {
      List<String> lines = Files.readAllLines(file, StandardCharsets.US_ASCII);
      for (String line : lines) {
        if (line.startsWith(name)) {
          String[] parts = line.substring(name.length()).trim().split("\\s+");
          return OptionalLong.of(Long.parseLong(parts[0]));
        }
      }
      return OptionalLong.empty();
    } catch (IOException | RuntimeException e) {
      return OptionalLong.empty();
    }
  }
}
