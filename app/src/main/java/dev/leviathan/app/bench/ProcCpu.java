package dev.leviathan.app.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * CPU time of this process, all threads (TensorFlow's native ones too), in nanoseconds.
 *
 * <p>The JVM's {@code OperatingSystemMXBean.getProcessCpuTime()} counts in clock ticks (10 ms on Linux),
 * too coarse for a step of a few milliseconds. Linux keeps each thread's run time in nanoseconds (the
 * first field of {@code /proc/self/task/TID/schedstat}); their sum is the process's CPU time except for
 * threads that have already exited, which a training step's thread pools do not do. Where that file is
 * missing the JVM's figure is used.
 */
final class ProcCpu {
  private static final Path TASKS = Path.of("/proc/self/task");
  private static final boolean SCHEDSTAT = Files.isReadable(TASKS.resolve(Long.toString(ProcessHandle.current().pid()))
      .resolve("schedstat"));

  private ProcCpu() {}

  /** Process CPU time in nanoseconds, or -1 when this platform reports none. */
  static long nanos() {
    if (SCHEDSTAT) {
      long sum = 0;
      try (DirectoryStream<Path> tasks = Files.newDirectoryStream(TASKS)) {
        for (Path task : tasks) {
          sum += runNanos(task.resolve("schedstat"));
        }
        return sum;
      } catch (IOException e) {
        // fall through to the JVM's coarser figure
      }
    }
    return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
        ? os.getProcessCpuTime()
        : -1;
  }

  private static long runNanos(Path schedstat) {
    try {
      String line = Files.readString(schedstat, StandardCharsets.US_ASCII).trim();
      int space = line.indexOf(' ');
      return Long.parseLong(space < 0 ? line : line.substring(0, space));
    } catch (IOException | RuntimeException e) {
      return 0; // the thread exited between listing and reading
    }
  }
}
