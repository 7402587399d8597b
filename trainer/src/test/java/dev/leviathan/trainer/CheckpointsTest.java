package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointsTest {
  @TempDir Path dir;

  private Path fakeCheckpoint(Path d, String content) throws Exception {
    Files.createDirectories(d);
    Files.writeString(d.resolve("state.json"), content);
    Files.writeString(d.resolve("variables.index"), "index");
    Files.writeString(d.resolve("variables.data-00000-of-00001"), "data " + content);
    Checkpoints.writeChecksums(d);
    return d;
  }

  @Test
  void checksumsDetectChangedMissingAndUnlistedFiles() throws Exception {
    Path d = fakeCheckpoint(dir.resolve("c1"), "{}");
    Checkpoints.verify(d);
    Files.writeString(d.resolve("variables.data-00000-of-00001"), "tampered");
    CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoints.verify(d));
    assertTrue(e.getMessage().contains("variables.data-00000-of-00001 does not match its checksum"), e.getMessage());
    Files.delete(d.resolve("variables.data-00000-of-00001"));
    e = assertThrows(CheckpointException.class, () -> Checkpoints.verify(d));
    assertTrue(e.getMessage().contains("is missing variables.data-00000-of-00001"), e.getMessage());
    Files.delete(d.resolve("checksums.sha256"));
    e = assertThrows(CheckpointException.class, () -> Checkpoints.verify(d));
    assertTrue(e.getMessage().contains("has no checksums.sha256"), e.getMessage());
  }

  @Test
  void aCheckpointMovedAsideByADyingWriterIsRecovered() throws Exception {
    Checkpoints cps = new Checkpoints(dir);
    // state after "move last aside" and before "move new one in": only .old-last-N exists
    fakeCheckpoint(cps.root().resolve(".old-last-123"), "{\"x\":1}");
    Files.createDirectories(cps.root().resolve(".tmp-last-999"));
    cps.recover(); // done by the writer holding the run lock; readers never move folders
    Path resolved = cps.resolve("last");
    assertEquals(cps.root().resolve("last"), resolved);
    assertTrue(Files.isRegularFile(resolved.resolve("state.json")));
    Checkpoints.verify(resolved);
  }

  @Test
  void missingCheckpointSaysWhatToDo() {
    CheckpointException e = assertThrows(CheckpointException.class, () -> new Checkpoints(dir).read("last"));
    assertTrue(e.getMessage().startsWith("no checkpoint 'last' in "), e.getMessage());
  }
}
