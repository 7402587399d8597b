package dev.leviathan.trainer.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.tensorflow.exceptions.TensorFlowException;

/** The Java bound around a step: hung steps fail in one line, naming a worker that no longer accepts connections. */
class StepWatchdogTest {
  private static final Duration BOUND = Duration.ofMillis(800);

  /** A free port nothing listens on: a "dead" worker. */
  private static int closedPort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void aStepThatNeverReturnsFailsWithinTheBoundNamingTheDeadWorker() throws Exception {
    int dead = closedPort();
    ClusterSpec spec = ClusterSpec.parseFlags("127.0.0.1:1,127.0.0.1:" + dead, "0");
    try (StepWatchdog w = new StepWatchdog(spec, BOUND)) {
      assertEquals(42, w.run(0, () -> 42));
      long t0 = System.nanoTime();
      ClusterFailure f = assertThrows(ClusterFailure.class, () -> w.run(7, () -> {
        new CountDownLatch(1).await();
        return null;
      }));
      double seconds = (System.nanoTime() - t0) / 1e9;
      assertTrue(seconds >= 0.8 && seconds < 3, "failed after " + seconds + " s");
      assertEquals("worker 1 (127.0.0.1:" + dead + ") stopped responding at step 7 (no answer within 0.8 s)",
          f.getMessage());
      assertEquals(7, f.step());
      assertSame(f, assertThrows(ClusterFailure.class, () -> w.run(8, () -> 1)), "no step after a failure");
    }
  }

  @Test
  void aHungWorkerThatStillAcceptsConnectionsIsNotNamed() throws Exception {
    try (ServerSocket alive = new ServerSocket(0)) {
      ClusterSpec spec = ClusterSpec.parseFlags("127.0.0.1:" + alive.getLocalPort() + ",127.0.0.1:1", "1");
      try (StepWatchdog w = new StepWatchdog(spec, BOUND)) {
        ClusterFailure f = assertThrows(ClusterFailure.class, () -> w.run(3, () -> {
          Thread.sleep(60_000);
          return null;
        }));
        assertEquals("a worker of 2 (all still accept connections) stopped responding at step 3"
            + " (no answer within 0.8 s)", f.getMessage());
      }
    }
  }

  @Test
  void collectiveErrorsBecomeOneLineAndOtherErrorsPassThrough() throws Exception {
    int dead = closedPort();
    ClusterSpec spec = ClusterSpec.parseFlags("127.0.0.1:" + dead + ",127.0.0.1:1", "1");
    String timedOut = "From /job:worker/replica:0/task:0:\nCollective ops is aborted by: Collective has timed out"
        + " during execution.\nThe error could be from a previous operation. Restart your program to reset."
        + " [type.googleapis.com/tensorflow.DerivedStatus='']";
    try (StepWatchdog w = new StepWatchdog(spec, BOUND)) {
      ClusterFailure f = assertThrows(ClusterFailure.class, () -> w.run(5, () -> {
        throw new TensorFlowException(timedOut);
      }));
      assertEquals("worker 0 (127.0.0.1:" + dead + ") stopped responding at step 5 (TensorFlow: Collective ops is"
          + " aborted by: Collective has timed out during execution.)", f.getMessage());
    }
    try (ServerSocket alive = new ServerSocket(0)) {
      ClusterSpec up = ClusterSpec.parseFlags("127.0.0.1:" + alive.getLocalPort() + ",127.0.0.1:1", "1");
      try (StepWatchdog w = new StepWatchdog(up, BOUND)) {
        TensorFlowException nan = new TensorFlowException("loss is NaN");
        assertSame(nan, assertThrows(TensorFlowException.class, () -> w.run(1, () -> {
          throw nan;
        })));
        IllegalStateException bug = new IllegalStateException("bug");
        assertSame(bug, assertThrows(IllegalStateException.class, () -> w.run(2, () -> {
          throw bug;
        })));
      }
    }
  }

  @Test
  void summaryKeepsTheInformativeLine() {
    assertEquals("Collective ops is aborted by: failed to connect to all addresses", StepWatchdog.summary(
        "From /job:worker/replica:0/task:1:\nCollective ops is aborted by: failed to connect to all addresses\n"
            + "Additional GRPC error information from remote target /job:worker/replica:0/task:0 while calling"
            + " /tensorflow.WorkerService/RecvBuf:\n:{\"created\":\"@1\"}\nThe error could be from a previous"
            + " operation.\n\t [[{{node CollectiveMean}}]] [type.googleapis.com/tensorflow.DerivedStatus='']"));
    assertEquals("plain", StepWatchdog.summary("plain"));
  }
}
