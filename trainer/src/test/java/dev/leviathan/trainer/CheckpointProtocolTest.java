package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.registry.MixerRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every state a writer that dies at any point of the checkpoint protocol can leave is brought back to a
 * complete checkpoint by {@link Checkpoints#recover}, and each change is reported.
 */
class CheckpointProtocolTest {
  @TempDir Path dir;

  private static Path fake(Path d, long step) throws Exception {
    Files.createDirectories(d);
    Files.writeString(d.resolve("state.json"), "{\"format\":" + CheckpointState.FORMAT + ",\"step\":" + step + "}");
    Files.writeString(d.resolve("variables.index"), "index " + step);
    Files.writeString(d.resolve("variables.data-00000-of-00001"), "data " + step);
    Checkpoints.writeChecksums(d);
    return d;
  }

  private static long step(Path d) throws Exception {
    return Long.parseLong(Files.readString(d.resolve("variables.index")).substring("index ".length()));
  }

  @Test
  void diedWhileWritingTheTemporaryFolder() throws Exception {
    Checkpoints cps = new Checkpoints(dir);
    fake(cps.root().resolve("last"), 10);
    Files.createDirectories(cps.root().resolve("last.tmp"));
    Files.writeString(cps.root().resolve("last.tmp/variables.data-00000-of-00001"), "half");
    assertEquals(List.of(), cps.recover(), "nothing worth telling: last is intact");
    assertFalse(Files.exists(cps.root().resolve("last.tmp")));
    assertEquals(10, step(cps.resolve("last")));
  }

  @Test
  void diedBetweenTheTwoRenames() throws Exception {
    Checkpoints cps = new Checkpoints(dir);
    fake(cps.root().resolve("last.prev"), 10);
    fake(cps.root().resolve("last.tmp"), 20);
    assertEquals(cps.root().resolve("last.prev"), cps.resolve("last"), "a reader uses the previous one unchanged");
    assertTrue(Files.exists(cps.root().resolve("last.prev")), "readers move nothing");
    List<String> notes = cps.recover();
    assertEquals(1, notes.size(), notes.toString());
    assertTrue(notes.get(0).contains("interrupted") && notes.get(0).contains("step 10"), notes.toString());
    assertEquals(10, step(cps.root().resolve("last")));
    assertFalse(Files.exists(cps.root().resolve("last.prev")));
    assertFalse(Files.exists(cps.root().resolve("last.tmp")));
  }

  @Test
  void diedBeforeDeletingThePreviousOne() throws Exception {
    Checkpoints cps = new Checkpoints(dir);
    fake(cps.root().resolve("last.prev"), 10);
    fake(cps.root().resolve("last"), 20);
    assertEquals(List.of(), cps.recover());
    assertEquals(20, step(cps.root().resolve("last")));
    assertFalse(Files.exists(cps.root().resolve("last.prev")));
  }

  @Test
  void aNewCheckpointThatDoesNotVerifyIsReplacedByThePreviousOne() throws Exception {
    Checkpoints cps = new Checkpoints(dir);
    fake(cps.root().resolve("best.prev"), 10);
    fake(cps.root().resolve("best"), 20);
    Files.writeString(cps.root().resolve("best/variables.data-00000-of-00001"), "torn");
    List<String> notes = cps.recover();
    assertEquals(1, notes.size(), notes.toString());
    assertTrue(notes.get(0).contains("corrupt") && notes.get(0).contains("step 10"), notes.toString());
    assertEquals(10, step(cps.root().resolve("best")));
  }

  @Test
  void setAsideCopiesOfOlderVersionsAreCleanedUpAndOnlyTheNewestIsRestoredWithANote() throws Exception {
    Checkpoints cps = new Checkpoints(dir);
    fake(cps.root().resolve(".old-last-900"), 30); // nanoTime names do not order across processes
    fake(cps.root().resolve(".old-last-100"), 50);
    Files.createDirectories(cps.root().resolve(".tmp-last-5"));
    List<String> notes = cps.recover();
    assertEquals(1, notes.size(), notes.toString());
    assertTrue(notes.get(0).contains("step 50"), notes.toString());
    assertEquals(50, step(cps.root().resolve("last")));
    try (var s = Files.list(cps.root())) {
      assertEquals(List.of("last"), s.map(p -> p.getFileName().toString()).toList());
    }
  }

  @Test
  void aCheckpointsFolderWithoutACompleteCheckpointHoldsNoRun() throws Exception {
    Checkpoints cps = new Checkpoints(dir);
    assertFalse(cps.holdsRun());
    Files.createDirectories(cps.root().resolve("last.tmp"));
    assertFalse(cps.holdsRun(), "a first checkpoint that was never finished");
    fake(cps.root().resolve("last.prev"), 3);
    assertTrue(cps.holdsRun());
  }

  @Test
  void saveReplacesThePreviousCheckpointAndLeavesNoSideFolders() throws Exception {
    RunSpec spec = ConfigLoader.load(null, List.of("context=8", "width=8", "layers=1", "batch=2"));
    try (ModelRuntime rt = ModelRuntime.create(spec.resolve(MixerRegistry.discover()).model(5), spec, true)) {
      rt.initialize(1);
      Checkpoints cps = new Checkpoints(dir);
      fake(cps.root().resolve("last.tmp"), 1); // a dead writer's leftover
      for (long step : new long[] {1, 2}) {
        cps.save("last", rt, new CheckpointState(CheckpointState.FORMAT, step, 1.0, step, "", "char", "abcde",
            List.of(), "v", "tf", "now"));
      }
      assertEquals(2, cps.read("last").step());
      try (var s = Files.list(cps.root())) {
        assertEquals(List.of("last"), s.map(p -> p.getFileName().toString()).toList());
      }
    }
  }
}
