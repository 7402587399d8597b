package dev.leviathan.trainer.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Naming the first worker and fact that differ from worker 0 (the gather itself runs in ClusterProcessesTest). */
class StartupHandshakeTest {
  private static final ClusterSpec SPEC = ClusterSpec.parseFlags("h:1,h:2,h:3", "2");
  private static final List<String> FACTS = List.of("config", "mixer stack");

  @Test
  void equalFingerprintsPass() {
    assertTrue(StartupHandshake.difference(SPEC, FACTS, new long[] {5, 7, 5, 7, 5, 7}).isEmpty());
  }

  @Test
  void theFirstDifferingWorkerAndFactAreNamed() {
    assertEquals(Optional.of("worker 1 (h:2) has a different mixer stack than worker 0 (h:1);"
            + " start every worker with the same mixer stack"),
        StartupHandshake.difference(SPEC, FACTS, new long[] {5, 7, 5, 8, 6, 7}));
    assertEquals(Optional.of("worker 2 (h:3) has a different config than worker 0 (h:1);"
            + " start every worker with the same config"),
        StartupHandshake.difference(SPEC, FACTS, new long[] {5, 7, 5, 7, 6, 7}));
  }

  @Test
  void aWrongCountIsReported() {
    assertTrue(StartupHandshake.difference(SPEC, FACTS, new long[] {5, 7, 5, 7}).orElseThrow()
        .startsWith("the workers state different numbers of start-up facts"));
  }

  @Test
  void fingerprintsAreStableAndTellTextsApart() {
    assertEquals(StartupHandshake.fingerprint("model: {layers: 4}"), StartupHandshake.fingerprint("model: {layers: 4}"));
    assertNotEquals(StartupHandshake.fingerprint("model: {layers: 4}"), StartupHandshake.fingerprint("model: {layers: 5}"));
  }
}
