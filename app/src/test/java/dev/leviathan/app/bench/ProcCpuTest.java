package dev.leviathan.app.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class ProcCpuTest {
  /** A few milliseconds of work, well under one 10 ms clock tick, show up in full. */
  @Test
  void countsAFewMillisecondsOfOneThreadsWorkToTheMicrosecond() {
    assumeTrue(Files.isReadable(Path.of("/proc/self/task")), "Linux /proc");
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    assumeTrue(threads.isCurrentThreadCpuTimeSupported());
    long wall0 = System.nanoTime();
    long process0 = ProcCpu.nanos();
    long thread0 = threads.getCurrentThreadCpuTime();
    double sink = 0;
    while (threads.getCurrentThreadCpuTime() - thread0 < 3_000_000L) {
      for (int i = 0; i < 10_000; i++) {
        sink += Math.sqrt(i + sink);
      }
    }
    long burnt = threads.getCurrentThreadCpuTime() - thread0;
    long process = ProcCpu.nanos() - process0;
    long wall = System.nanoTime() - wall0;
    assertTrue(sink > 0);
    assertTrue(process >= burnt * 0.95, "process CPU " + process + " ns covers this thread's " + burnt + " ns");
    assertTrue(process < burnt + 64 * wall, "process CPU " + process + " ns in " + wall + " ns of wall time");
  }
}
