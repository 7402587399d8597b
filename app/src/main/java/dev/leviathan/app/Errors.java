package dev.leviathan.app;

import com.google.inject.ConfigurationException;
import com.google.inject.CreationException;
import com.google.inject.ProvisionException;
import com.google.inject.spi.Message;

/** Turns exceptions into the one-line messages users see. */
final class Errors {
  private Errors() {}

  static Throwable unwrap(Throwable t) {
    Throwable cur = t;
    for (int i = 0; i < 10; i++) {
      Throwable next = null;
      if (cur instanceof ProvisionException pe && !pe.getErrorMessages().isEmpty()) {
        next = firstCause(pe.getErrorMessages().iterator().next(), pe);
      } else if (cur instanceof CreationException ce && !ce.getErrorMessages().isEmpty()) {
        next = firstCause(ce.getErrorMessages().iterator().next(), ce);
      } else if (cur instanceof ConfigurationException ce && !ce.getErrorMessages().isEmpty()) {
        next = firstCause(ce.getErrorMessages().iterator().next(), ce);
      } else if (cur instanceof java.lang.reflect.InvocationTargetException ite) {
        next = ite.getCause();
      } else if (cur instanceof java.io.UncheckedIOException u && u.getMessage() == null) {
        next = u.getCause();
      }
      if (next == null || next == cur) {
        return cur;
      }
      cur = next;
    }
    return cur;
  }

  private static Throwable firstCause(Message m, Throwable fallback) {
    return m.getCause() != null ? m.getCause() : fallback;
  }

  static String message(Throwable t) {
    String m = t.getMessage();
    if (m == null || m.isBlank()) {
      m = t.getClass().getSimpleName();
    } else if (!(t instanceof IllegalArgumentException) && !(t instanceof IllegalStateException)
        && !(t instanceof java.io.UncheckedIOException) && !(t instanceof java.io.IOException)) {
      m = t.getClass().getSimpleName() + ": " + m;
    }
    return m.lines().findFirst().orElse(m);
  }
}
