package dev.leviathan.app;

import java.io.PrintStream;
import sun.misc.Signal;

/**
 * Ctrl-C handling: the first SIGINT asks the running job to checkpoint and stop at the next step; a
 * second one exits at once.
 */
final class SignalStop {
  private SignalStop() {}

  static void install(Runnable onFirst, PrintStream err) {
    final boolean[] seen = {false};
    try {
      Signal.handle(new Signal("INT"), sig -> {
        if (seen[0]) {
          err.println("\ninterrupted again: exiting without a checkpoint");
          Runtime.getRuntime().halt(Main.EXIT_INTERRUPTED);
        }
        seen[0] = true;
        err.println("\ninterrupt: writing a checkpoint and stopping (Ctrl-C again to quit at once)");
        onFirst.run();
      });
    } catch (IllegalArgumentException e) {
      // No SIGINT on this platform/JVM configuration: Ctrl-C then ends the process as usual.
    }
  }
}
