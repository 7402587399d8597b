package dev.leviathan.core.registry;

import dev.leviathan.core.spi.InvalidMixerOptionException;
import java.util.function.Supplier;

/**
 * The one guard around calls into a mixer provider's code (see {@link GuardedMixers}). Whatever the code
 * throws, exceptions and errors alike ({@code AssertionError}, {@code StackOverflowError},
 * {@code LinkageError}, an {@code ExceptionInInitializerError} of one of its classes), becomes a
 * {@link MixerCallException} whose one-line message names the mixer, where it came from, the call and the
 * cause. Two kinds pass unchanged: {@link InvalidMixerOptionException}, the user's option value that the
 * mixer refused (already one line naming mixer and option), and {@link OutOfMemoryError}, which is about
 * the process rather than the mixer. A result that breaks the SPI contract (null, a wrong shape) fails
 * through {@link #broken}.
 */
public final class MixerCalls {
  private final String kind;
  private final String name;
  private final String source;
  private final boolean builtIn;

  MixerCalls(ProviderInfo.Kind kind, String name, Origin origin) {
    this.kind = kind.words();
    this.name = name;
    this.source = origin.toString();
    this.builtIn = origin.builtIn();
  }

  /** Runs {@code body}, plugin code, turning what it throws into a {@link MixerCallException}. */
  <T> T call(String what, Supplier<T> body) {
    try {
      return body.get();
    } catch (InvalidMixerOptionException | OutOfMemoryError | MixerCallException e) {
      throw e;
    } catch (Throwable e) {
      throw new MixerCallException(name, source, what,
          prefix() + " failed in " + what + ": " + describe(e) + "; " + advice(), e);
    }
  }

  /** A result of {@code what} that breaks the SPI contract, {@code problem} saying how. */
  MixerCallException broken(String what, String problem) {
    return new MixerCallException(name, source, what,
        prefix() + " broke the mixer contract in " + what + ": " + problem + "; " + advice(), null);
  }

  private String prefix() {
    return kind + " '" + name + "' from " + source;
  }

  private String advice() {
    return builtIn
        ? "this is a defect of Leviathan: rerun with --debug and report it"
        : "this is a defect of the plugin: fix it, or remove " + source + " from the plugin folder";
  }

  /**
   * A throwable as one line: its class, its message's first line, and its causes the same way (an
   * {@code ExceptionInInitializerError} says nothing without its cause).
   */
  public static String describe(Throwable t) {
    StringBuilder sb = new StringBuilder();
    int open = 0;
    for (Throwable cur = t; cur != null && open < 4; open++) {
      if (open > 0) {
        sb.append(" (caused by ");
      }
      sb.append(cur.getClass().getSimpleName());
      String m = cur.getMessage();
      if (m != null && !m.isBlank()) {
        sb.append(": ").append(m.strip().lines().findFirst().orElse("").strip());
      }
      Throwable next = cur.getCause();
      boolean said = m != null && next != null && next.getMessage() != null && m.contains(next.getMessage());
      cur = next == cur || said ? null : next;
    }
    return sb + ")".repeat(Math.max(0, open - 1));
  }
}
