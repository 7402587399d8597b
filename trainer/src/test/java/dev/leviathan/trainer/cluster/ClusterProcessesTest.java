package dev.leviathan.trainer.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.Session;
import org.tensorflow.proto.ConfigProto;

/**
 * Two worker processes on loopback, joined by TensorFlow's gRPC runtime: the collective mean, data
 * parallel SGD against one process on the whole batch, and a killed worker. Each worker is its own
 * JVM (a TensorFlow server cannot be stopped, so a worker ends with its process).
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ClusterProcessesTest {
  private static final Duration START = Duration.ofSeconds(40);
  private static final Duration EXIT = Duration.ofSeconds(15);

  @TempDir
  Path dir;

  @Test
  void twoWorkersBothGetTheMeanOfTheirVectors() throws Exception {
    try (WorkerProcesses w = new WorkerProcesses(2, dir, "mean")) {
      float[] a = ClusterWorkerMain.vector(0, 5);
      float[] b = ClusterWorkerMain.vector(1, 5);
      float[] expected = new float[5];
      for (int j = 0; j < 5; j++) {
        expected[j] = (a[j] + b[j]) / 2;
      }
      for (int i = 0; i < 2; i++) {
        assertArrayEquals(expected, ClusterWorkerMain.parseBits(w.await(i, "RESULT", START)), 0f, "worker " + i);
      }
      w.finish(EXIT);
    }
  }

  @Test
  void workersWithDifferentMixerStacksAreRefusedAtStart() throws Exception {
    try (WorkerProcesses w = new WorkerProcesses(2, dir, "mixers=attention,aft", "mean")) {
      for (int i = 0; i < 2; i++) {
        assertEquals("worker 1 (" + w.spec.workers().get(1) + ") has a different mixer stack than worker 0 ("
            + w.spec.workers().get(0) + "); start every worker with the same mixer stack", w.await(i, "REFUSED", START));
      }
      w.finish(EXIT);
      assertEquals(2, w.processes.get(0).exitValue());
      assertEquals(2, w.processes.get(1).exitValue());
    }
  }

  @Test
  void averagedGradientsOnTwoWorkersMatchOneProcessOnTheWholeBatch() throws Exception {
    int rows = 4;
    int steps = 10;
    float[] referenceLoss = new float[steps];
    float[] reference;
    LinearProblem one = new LinearProblem(2 * rows, Optional.empty(), 1f);
    ConfigProto oneThread = ConfigProto.newBuilder().setIntraOpParallelismThreads(1).build();
    try (one.graph; Session s = new Session(one.graph, oneThread)) {
      for (int i = 0; i < steps; i++) {
        referenceLoss[i] = one.step(s, i, 2 * rows, 0);
      }
      reference = one.parameters(s);
    }
    try (WorkerProcesses w = new WorkerProcesses(2, dir, "sgd", "" + rows, "" + steps)) {
      String[] params = new String[2];
      float[][] loss = new float[2][steps];
      for (int k = 0; k < 2; k++) {
        for (int i = 0; i < steps; i++) {
          String[] line = w.await(k, "LOSS", START).split(" ");
          assertEquals(i, Integer.parseInt(line[0]));
          loss[k][i] = Float.parseFloat(line[1]);
        }
        params[k] = w.await(k, "PARAMS", START);
      }
      w.finish(EXIT);
      assertEquals(params[0], params[1], "parameters are bitwise equal on both workers");
      assertArrayEquals(reference, ClusterWorkerMain.parseBits(params[0]), 1e-5f);
      for (int i = 0; i < steps; i++) {
        assertEquals(referenceLoss[i], (loss[0][i] + loss[1][i]) / 2, 1e-5f, "loss of step " + i);
      }
      assertTrue(referenceLoss[steps - 1] < referenceLoss[0], "SGD lowers the loss");
    }
  }

  /** Worker 1 dies (the leader survives), or the leader dies (a step started after that may retry forever). */
  @ParameterizedTest(name = "worker {0} killed")
  @ValueSource(ints = {1, 0})
  void killingOneWorkerStopsTheOtherWithinTheBoundInOneLine(int killed) throws Exception {
    int survivor = 1 - killed;
    try (WorkerProcesses w = new WorkerProcesses(2, dir, "steps")) {
      w.await(killed, "STEP 3", START);
      w.await(survivor, "STEP 3", START);
      w.processes.get(killed).destroyForcibly().waitFor();
      long t0 = System.nanoTime();
      double elapsed = Double.parseDouble(w.await(survivor, "ELAPSED", Duration.ofSeconds(20)));
      String failure = w.await(survivor, "FAILURE", EXIT);
      assertTrue(w.processes.get(survivor).waitFor(EXIT.toMillis(), TimeUnit.MILLISECONDS), "the survivor exits");
      double sinceKill = (System.nanoTime() - t0) / 1e9;
      System.out.println("worker " + killed + " killed; worker " + survivor + " after " + elapsed + " s: " + failure);
      assertEquals(3, w.processes.get(survivor).exitValue());
      double bound = ClusterWorkerMain.STEP_BOUND.toSeconds() + 1.0;
      assertTrue(elapsed <= bound, "the failing step took " + elapsed + " s");
      assertTrue(failure.matches("worker " + killed + " \\(" + w.spec.workers().get(killed).toString().replace(".", "\\.")
          + "\\) stopped responding at step [0-9]+ \\(.*\\)"), failure);
      assertEquals(1, failure.lines().count());
      assertTrue(sinceKill < 2 * bound, "the survivor ended " + sinceKill + " s after the kill");
    }
  }
}
