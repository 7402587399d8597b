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
    if (t instanceof OutOfMemoryError) {
      return "out of memory (" + firstLine(t) + "): this run needs more memory than Java or the machine has; lower"
          + " batch, context, width or layers, use a smaller data file, or give Java more heap with"
          + " LEVIATHAN_JAVA_OPTS=-Xmx<size>";
    }
    if (t instanceof org.tensorflow.exceptions.TFResourceExhaustedException) {
      return "TensorFlow ran out of memory (" + firstLine(t) + "); lower batch, context, width or layers";
    }
    if (t instanceof StackOverflowError) {
      return "stack overflow in " + where(t) + "; this is a defect, rerun with --debug and report it";
    }
    if (t instanceof Error) {
      return t.getClass().getSimpleName() + (t.getMessage() == null ? "" : " (" + firstLine(t) + ")") + " in "
          + where(t) + "; this is a defect of that code (a plugin mixer's, if it is one): rerun with --debug and"
          + " report it to its authors";
    }
    String m = t.getMessage();
    if (m == null || m.isBlank()) {
      m = t.getClass().getSimpleName();
    } else if (!(t instanceof IllegalArgumentException) && !(t instanceof IllegalStateException)
        && !(t instanceof java.io.UncheckedIOException) && !(t instanceof java.io.IOException)) {
      m = t.getClass().getSimpleName() + ": " + m;
    }
    return m.lines().findFirst().orElse(m);
  }

  private static String firstLine(Throwable t) {
    String m = t.getMessage();
    return m == null ? "no details" : m.lines().findFirst().orElse(m);
  }

  /** The class and method that threw, and the jar it came from when that is not Leviathan's own. */
  private static String where(Throwable t) {
    StackTraceElement[] st = t.getStackTrace();
    for (StackTraceElement e : st) {
      String c = e.getClassName();
      if (!c.startsWith("java.") && !c.startsWith("jdk.") && !c.startsWith("sun.")) {
        String loader = e.getClassLoaderName(); // plugin class loaders are named after their jar
        boolean plugin = loader != null && !loader.equals("app") && !loader.equals("platform");
        return c + "." + e.getMethodName() + (plugin ? " (from " + loader + ")" : jarOf(t, c));
      }
    }
    return st.length == 0 ? "unknown code" : st[0].getClassName() + "." + st[0].getMethodName();
  }

  private static String jarOf(Throwable t, String className) {
    if (className.startsWith("dev.leviathan.")) {
      return "";
    }
    try {
      ClassLoader loader = Thread.currentThread().getContextClassLoader();
      Class<?> c = Class.forName(className, false, loader);
      var src = c.getProtectionDomain().getCodeSource();
      return src == null ? "" : " (from " + src.getLocation().getPath() + ")";
    } catch (ClassNotFoundException | LinkageError | SecurityException e) {
      return "";
    }
  }
}
