package dev.leviathan.app;

import java.io.PrintStream;
import java.util.concurrent.atomic.AtomicBoolean;
import sun.misc.Signal;

/**
 * Ctrl-C handling: the first SIGINT asks the running job to checkpoint and stop at the next step; a
 * second one exits at once.
 */
public final class SignalStop {
  private SignalStop() {}

  /**
   * Installs the handler into {@code requested}, which becomes true at the first Ctrl-C.
   *
   * @param action what the first Ctrl-C does, in words (e.g. "writing a checkpoint and stopping")
   */
  public static void install(Runnable onFirst, AtomicBoolean requested, String action, PrintStream err) {
    try {
      Signal.handle(new Signal("INT"), sig -> {
        if (requested.getAndSet(true)) {
          err.println("\ninterrupted again: exiting without a checkpoint");
          Runtime.getRuntime().halt(Main.EXIT_INTERRUPTED);
        }
        err.println("\ninterrupt: " + action + " (Ctrl-C again to quit at once)");
        onFirst.run();
      });
    } catch (IllegalArgumentException e) {
      // No SIGINT on this platform/JVM configuration: Ctrl-C then ends the process as usual.
    }
  }
}
