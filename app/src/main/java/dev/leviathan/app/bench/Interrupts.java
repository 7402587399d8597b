package dev.leviathan.app.bench;

import dev.leviathan.app.Main;
import java.io.PrintStream;
import java.util.concurrent.atomic.AtomicBoolean;
import sun.misc.Signal;

/**
 * Ctrl-C during {@code compare}: the first SIGINT asks the running training to checkpoint and stop and
 * no further run starts; a second one exits at once.
 */
final class Interrupts {
  private Interrupts() {}

  /** Installs the handler; {@code requested} becomes true at the first Ctrl-C. */
  static void install(Runnable stopTraining, AtomicBoolean requested, PrintStream err) {
    try {
      Signal.handle(new Signal("INT"), sig -> {
        if (requested.getAndSet(true)) {
          err.println("\ninterrupted again: exiting without a checkpoint");
          Runtime.getRuntime().halt(Main.EXIT_INTERRUPTED);
        }
        err.println("\ninterrupt: checkpointing the current run and stopping (Ctrl-C again to quit at once)");
        stopTraining.run();
      });
    } catch (IllegalArgumentException e) {
      // No SIGINT handling on this platform: Ctrl-C ends the process; finished runs are on disk already.
    }
  }
}
