package dev.leviathan.app.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link BenchRow#combine}: one configuration's runs of {@code bench --repeat} as one row. */
class BenchRowTest {
  static BenchRow ok(double stepMs, double peakMb) {
    return new BenchRow("attention", 64, 12, 128, 4, 809856L, stepMs, 768 / (stepMs / 1000), stepMs / 3, peakMb,
        700.0, 900.0, BenchRow.OK, 1, stepMs, stepMs, stepMs * 1.5);
  }

  static BenchRow failed(String status) {
    return new BenchRow("attention", 64, 12, 128, 4, 809856L, null, null, null, null, null, null, status, 0, null, null, null);
  }

  @Test
  void finishedRunsGiveTheirMediansAndTheRangeOfStepTimes() {
    BenchRow r = BenchRow.combine(List.of(ok(60, 80), failed(BenchRow.TIMEOUT), ok(50, 90), ok(70, 85)));
    assertEquals(BenchRow.OK, r.status());
    assertEquals(3, r.runs(), "the run that timed out is left out");
    assertEquals(60, r.stepMs());
    assertEquals(768 / 0.060, r.tokensPerSec(), 1e-9, "tokens/s of the median step");
    assertEquals(20, r.forwardMs());
    assertEquals(85, r.peakMb());
    assertEquals(50, r.stepMsMin());
    assertEquals(70, r.stepMsMax());
    assertEquals(90, r.cpuMs(), "the median CPU time per step");
    BenchRow even = BenchRow.combine(List.of(ok(60, 80), ok(50, 90)));
    assertEquals(55, even.stepMs(), "an even count takes the mean of the middle two");
    assertEquals(2, even.runs());
  }

  @Test
  void withoutAFinishedRunTheFirstFailureStands() {
    BenchRow r = BenchRow.combine(List.of(failed(BenchRow.OOM), failed(BenchRow.TIMEOUT)));
    assertEquals(BenchRow.OOM, r.status());
    assertEquals(0, r.runs());
    assertNull(r.stepMs());
    assertEquals("attention,64,12,128,4,809856,,,,,,,oom,0,,,", r.csv());
  }
}
