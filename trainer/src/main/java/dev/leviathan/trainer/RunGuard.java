package dev.leviathan.trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Everything that must hold while a training process writes a run directory, in one place: the
 * {@link RunLock}; the checkpoint folders brought back to a state of the protocol ({@link Checkpoints#recover});
 * whether the run can start or resume; and, when the start fails before the run has begun (as a listener
 * it sees the first step, checkpoint or the end), removal of whatever this process created, so a failed start leaves no half-made run
 * directory.
 *
 * <p>What a run directory whose first checkpoint write was interrupted (a {@code checkpoints/} folder with no
 * complete checkpoint) accepts: a fresh {@code train} starts it again from step 0 (the leftovers are removed);
 * {@code train --resume} also starts again from step 0, with the run's {@code config.yaml}, and says so.
 */
public final class RunGuard implements AutoCloseable, TrainingListener {
  private final Path runDir;
  private final Path created;
  private final boolean existed;
  private final Set<String> before;
  private final RunLock lock;
  private final boolean resume;
  private boolean begun;

  private RunGuard(Path runDir, Path created, boolean existed, Set<String> before, RunLock lock, boolean resume) {
    this.runDir = runDir;
    this.created = created;
    this.existed = existed;
    this.before = before;
    this.lock = lock;
    this.resume = resume;
  }

  /**
   * Locks {@code runDir} for {@code command} and checks that it can be started ({@code resume} false) or
   * resumed from its own checkpoints; notes for the user go to {@code notes}.
   */
  public static RunGuard enter(Path runDir, boolean resume, boolean ownCheckpoint, String command,
      Consumer<String> notes) {
    if (Files.exists(runDir) && !Files.isDirectory(runDir)) {
      throw new ConfigException("the run directory " + runDir + " is a file, not a folder; pass a folder (new or"
          + " holding a run) with --out");
    }
    boolean existed = Files.isDirectory(runDir);
    Path created = runDir.toAbsolutePath();
    while (created.getParent() != null && !Files.exists(created.getParent())) {
      created = created.getParent(); // e.g. runs/ of a first run: removed with the run when the start fails
    }
    Set<String> before = existed ? names(runDir) : Set.of();
    RunLock lock = RunLock.acquire(runDir, command, notes);
    RunGuard guard = null;
    try {
      Checkpoints checkpoints = new Checkpoints(runDir);
      checkpoints.recover().forEach(notes);
      boolean holds = checkpoints.holdsRun();
      boolean effectiveResume = resume;
      if (!resume && holds) {
        throw new ConfigException("run directory " + runDir + " already holds a run; pass --resume to continue it"
            + " or choose another --out");
      }
      if (!holds && Files.isDirectory(checkpoints.root())) {
        Checkpoints.deleteTree(checkpoints.root());
        if (resume && ownCheckpoint) {
          notes.accept("run " + runDir + " has no complete checkpoint (its first one was never finished): starting"
              + " it again from step 0 with its config.yaml");
          effectiveResume = false;
        } else {
          notes.accept("run " + runDir + " has no complete checkpoint (its first one was never finished): starting"
              + " it afresh");
        }
      } else if (resume && ownCheckpoint && !holds) {
        throw new ConfigException("cannot resume: " + runDir + " holds no run (no checkpoints/ folder); start one"
            + " with: leviathan train --out " + runDir);
      }
      guard = new RunGuard(runDir, created, existed, before, lock, effectiveResume);
      return guard;
    } catch (IOException e) {
      throw new IllegalStateException("cannot clean up " + runDir + ": " + e.getMessage(), e);
    } finally {
      if (guard == null) {
        new RunGuard(runDir, created, existed, before, lock, false).close();
      }
    }
  }

  /** Whether the run continues from a checkpoint (false also for a resume of a run that never saved one). */
  public boolean resume() {
    return resume;
  }

  /** The run has begun (a step finished or a checkpoint was written): a failure from now on keeps its files. */
  public void begun() {
    begun = true;
  }

  @Override
  public void stepped(long step, double loss, double lr, double tokensPerSec) {
    begun();
  }

  @Override
  public void checkpointed(String name, Path dir, long step) {
    begun();
  }

  @Override
  public void finished() {
    begun();
  }

  /** Removes what a failed start created, then releases the lock. */
  @Override
  public void close() {
    try {
      if (!begun) {
        if (!existed) {
          Checkpoints.deleteTree(runDir);
          // then the folders created for it, while they are empty (another run may have started in one)
          for (Path p = runDir.toAbsolutePath().getParent(); p != null && p.startsWith(created); p = p.getParent()) {
            try {
              Files.delete(p);
            } catch (IOException e) {
              break;
            }
          }
        } else {
          for (String name : names(runDir)) {
            if (!before.contains(name)) {
              Checkpoints.deleteTree(runDir.resolve(name));
            }
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      // best effort; the lock is released regardless
    } finally {
      lock.close();
    }
  }

  private static Set<String> names(Path dir) {
    Set<String> out = new HashSet<>();
    try (Stream<Path> s = Files.list(dir)) {
      s.forEach(p -> out.add(p.getFileName().toString()));
    } catch (IOException e) {
      // an unreadable folder fails at the lock
    }
    return out;
  }
}
