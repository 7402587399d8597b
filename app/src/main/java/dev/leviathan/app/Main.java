package dev.leviathan.app;

import com.google.inject.Guice;
import com.google.inject.Injector;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;

/**
 * Entry point of {@code leviathan}. Builds the Guice injector (registry with built-in and plugin mixers,
 * trainer, commands) and runs the picocli command line. Every failure becomes one line on stderr and a
 * non-zero exit code; {@code --debug} adds the stack trace.
 */
public final class Main {
  /** Exit code for bad input (config, data, checkpoint, arguments at run time). */
  public static final int EXIT_ERROR = 1;
  /** Exit code for command-line usage errors. */
  public static final int EXIT_USAGE = 2;
  /** Exit code after Ctrl-C (a checkpoint was written). */
  public static final int EXIT_INTERRUPTED = 130;

  private Main() {}

  public static void main(String[] args) {
    System.setProperty("java.awt.headless", "true");
    nativeMemoryUnlimited();
    int code = run(args, System.out, System.err, System.getenv(), Path.of("").toAbsolutePath(), true);
    System.exit(code);
  }

  /**
   * TensorFlow's tensors are allocated through JavaCPP, which by default refuses allocations once the
   * process's resident memory exceeds a multiple of the Java heap ({@code OutOfMemoryError: Physical memory
   * usage is too high}). TensorFlow's own buffers are the bulk of that memory and are not Java objects, so
   * the check is switched off unless the user set it; must run before JavaCPP is loaded.
   */
  public static void nativeMemoryUnlimited() {
    if (System.getProperty("org.bytedeco.javacpp.maxPhysicalBytes") == null) {
      System.setProperty("org.bytedeco.javacpp.maxPhysicalBytes", "0");
    }
  }

  /** Runs the CLI in-process (tests use this) and returns the exit code. */
  public static int run(String[] args, PrintStream out, PrintStream err, Map<String, String> env, Path workingDir,
      boolean installSignalHandler) {
    boolean debug = List.of(args).contains("--debug");
    try {
      return execute(args, out, err, env, workingDir, installSignalHandler, debug);
    } catch (Throwable t) { // Errors (out of memory, a plugin's AssertionError) that picocli lets through
      return fail(t, err, debug);
    }
  }

  static int fail(Throwable t, PrintStream err, boolean debug) {
    Throwable cause = Errors.unwrap(t);
    err.println("error: " + Errors.message(cause));
    if (debug) {
      cause.printStackTrace(err);
    }
    return EXIT_ERROR;
  }

  private static int execute(String[] args, PrintStream out, PrintStream err, Map<String, String> env,
      Path workingDir, boolean installSignalHandler, boolean debug) {
    Injector injector;
    try {
      AppModule module = new AppModule(out, err, env, workingDir, pluginDirs(args), installSignalHandler);
      injector = Guice.createInjector(module);
    } catch (RuntimeException e) {
      return fail(e, err, debug);
    }
    CommandLine cli = new CommandLine(LeviathanCommand.class, new GuiceFactory(injector));
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    cli.setCaseInsensitiveEnumValuesAllowed(true);
    cli.setParameterExceptionHandler((ex, a) -> {
      err.println("error: " + ex.getMessage().lines().findFirst().orElse("") + " (see: leviathan "
          + commandPath(ex.getCommandLine()) + "--help)");
      return EXIT_USAGE;
    });
    cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> fail(ex, err, debug));
    return cli.execute(args);
  }

  private static String commandPath(CommandLine cl) {
    List<String> names = new ArrayList<>();
    for (CommandLine c = cl; c != null && c.getParent() != null; c = c.getParent()) {
      names.add(0, c.getCommandName());
    }
    return names.isEmpty() ? "" : String.join(" ", names) + " ";
  }

  /** The values of every {@code --plugins DIR} / {@code --plugins=DIR} (needed before parsing). */
  static List<Path> pluginDirs(String[] args) {
    List<Path> dirs = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--plugins") && i + 1 < args.length) {
        dirs.add(Path.of(args[++i]));
      } else if (args[i].startsWith("--plugins=")) {
        dirs.add(Path.of(args[i].substring("--plugins=".length())));
      }
    }
    return dirs;
  }

  /** Creates picocli commands through Guice. */
  static final class GuiceFactory implements CommandLine.IFactory {
    private final Injector injector;

    GuiceFactory(Injector injector) {
      this.injector = injector;
    }

    @Override
    public <K> K create(Class<K> type) throws Exception {
      if (type.getName().startsWith("dev.leviathan.")) {
        return injector.getInstance(type);
      }
      return CommandLine.defaultFactory().create(type);
    }
  }
}
