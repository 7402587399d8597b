package dev.leviathan.core.plugin;

import dev.leviathan.core.registry.MixerCalls;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.registry.Origin;
import dev.leviathan.core.registry.ProviderInfo;
import dev.leviathan.core.registry.RegistryException;
import dev.leviathan.core.spi.ChannelMixerProvider;
import dev.leviathan.core.spi.MixerProvider;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Loads mixer providers from plugin folders next to the built-in ones.
 *
 * <p>A plugin folder holds plugins: each {@code .jar} directly in it is one plugin, and each
 * sub-folder is one plugin made of the jars directly in that sub-folder (for a plugin that needs
 * libraries of its own). Every plugin gets its own {@link PluginClassLoader}; its providers are found
 * with {@link ServiceLoader} through {@code META-INF/services/dev.leviathan.core.spi.TokenMixerProvider}
 * and {@code ...ChannelMixerProvider} and registered with the jar they came from as their source.
 * Hidden files (names starting with '.') are skipped.
 *
 * <p>Nothing a plugin does stops the others or the built-in mixers from loading. Each failure becomes
 * one {@link PluginProblem} naming the jar, file or folder and the cause: a file that is not a jar, a
 * corrupt jar, a jar that bundles TensorFlow or JavaCPP classes, a services file naming a missing
 * class, a provider whose constructor throws, one whose loading does not finish within the time limit
 * (a hanging static initialiser), one built against another SPI version, one with an invalid name, or
 * one whose name another provider (built-in or plugin) already has.
 */
public final class PluginLoader {
  /** The source recorded for providers found on the host's own class path. */
  public static final String BUILT_IN = "built-in";

  /** Environment variable with a path list of further plugin folders. */
  public static final String ENVIRONMENT_VARIABLE = "LEVIATHAN_PLUGINS";

  /** The plugin folder read when it exists in the working directory. */
  public static final String DEFAULT_FOLDER = "plugins";

  private static final List<String> NATIVE_PREFIXES = List.of("org/tensorflow/", "org/bytedeco/");

  /** Environment variable with the time limit, in seconds, for loading one plugin provider. */
  public static final String TIME_LIMIT_VARIABLE = "LEVIATHAN_PLUGIN_TIMEOUT";

  /** How long loading one plugin provider may take unless {@value #TIME_LIMIT_VARIABLE} says otherwise. */
  public static final Duration DEFAULT_TIME_LIMIT = Duration.ofSeconds(30);

  private final ClassLoader host;
  private final Duration timeLimit;

  /**
   * @param host the class loader of the application: it provides the built-in mixers and the packages
   *     every plugin shares with the host ({@link PluginClassLoader#HOST_PACKAGES})
   * @param timeLimit how long loading one plugin provider (initialising its class, constructing it,
   *     reading its declarations) may take before it is skipped as hanging
   */
  public PluginLoader(ClassLoader host, Duration timeLimit) {
    this.host = Objects.requireNonNull(host, "host");
    this.timeLimit = Objects.requireNonNull(timeLimit, "timeLimit");
  }

  /** A loader with the {@link #DEFAULT_TIME_LIMIT}. */
  public PluginLoader(ClassLoader host) {
    this(host, DEFAULT_TIME_LIMIT);
  }

  /** A loader whose host is the class loader of Leviathan's core. */
  public PluginLoader() {
    this(PluginLoader.class.getClassLoader());
  }

  /**
   * The plugin folders to read, in order: every {@code --plugins} folder, then every entry of the
   * {@code LEVIATHAN_PLUGINS} path list ({@link File#pathSeparator}-separated, empty entries ignored),
   * then {@code plugins} in the working directory if it is a folder. Relative paths are resolved
   * against {@code workingDir}; a folder named twice is listed once. Folders named explicitly are kept
   * even if they do not exist, so that {@link #load} reports them.
   *
   * @param cliDirs the {@code --plugins} values, possibly empty
   * @param envValue the value of {@code LEVIATHAN_PLUGINS}, or {@code null} when unset
   * @param workingDir the directory relative paths and {@code ./plugins} are resolved against
   */
  public static List<Path> pluginDirectories(List<Path> cliDirs, String envValue, Path workingDir) {
    Path base = workingDir.toAbsolutePath();
    Set<Path> dirs = new LinkedHashSet<>();
    for (Path p : cliDirs) {
      dirs.add(base.resolve(p).normalize());
    }
    if (envValue != null) {
      for (String part : envValue.split(Pattern.quote(File.pathSeparator))) {
        if (!part.isBlank()) {
          dirs.add(base.resolve(part.strip()).normalize());
        }
      }
    }
    Path local = base.resolve(DEFAULT_FOLDER).normalize();
    if (Files.isDirectory(local)) {
      dirs.add(local);
    }
    return List.copyOf(dirs);
  }

  /**
   * {@link #pluginDirectories(List, String, Path)} with this process's {@code LEVIATHAN_PLUGINS} and
   * working directory.
   */
  public static List<Path> pluginDirectories(List<Path> cliDirs) {
    return pluginDirectories(cliDirs, System.getenv(ENVIRONMENT_VARIABLE), Path.of(""));
  }

  /**
   * How the application discovers its mixers, in one registry: the built-in providers of the host class
   * loader, each with the jar or class folder it came from ({@link MixerRegistry.Builder#loadBuiltIns}),
   * then the plugins of {@code pluginDirs}. The app, its bench workers and tests all use this (tests
   * without plugin folders through {@link MixerRegistry#discover()}, which loads the same built-ins).
   *
   * @throws RegistryException when the built-in providers themselves conflict
   */
  public PluginLoadResult discover(List<Path> pluginDirs) {
    return load(MixerRegistry.builder().loadBuiltIns(host), pluginDirs);
  }

  /**
   * The built-in providers of the host class loader (source {@value #BUILT_IN}, without their jars) and
   * then the plugins of {@code pluginDirs}, in one registry.
   *
   * @throws RegistryException when the built-in providers themselves conflict: that is a broken
   *     installation, not a plugin problem
   */
  public PluginLoadResult load(List<Path> pluginDirs) {
    return load(MixerRegistry.builder().load(host, type -> Origin.BUILT_IN), pluginDirs);
  }

  /**
   * Adds the plugins of {@code pluginDirs} to a builder that already holds the providers they must
   * not clash with, and builds the registry.
   */
  public PluginLoadResult load(MixerRegistry.Builder builder, List<Path> pluginDirs) {
    Run run = new Run(builder);
    for (Path dir : pluginDirs) {
      run.folder(dir.toAbsolutePath().normalize());
    }
    return new PluginLoadResult(builder.build(), run.loaded, run.problems);
  }

  /** The state of one {@link #load} call. */
  private final class Run {
    private final MixerRegistry.Builder builder;
    private final List<LoadedPlugin> loaded = new ArrayList<>();
    private final List<PluginProblem> problems = new ArrayList<>();
    private final Set<Path> seen = new HashSet<>();

    Run(MixerRegistry.Builder builder) {
      this.builder = builder;
    }

    void folder(Path dir) {
      if (Files.isRegularFile(dir)) {
        // A jar named directly (e.g. in LEVIATHAN_PLUGINS) is one plugin.
        entry(dir);
        return;
      }
      if (!Files.isDirectory(dir)) {
        problem(dir, "plugin folder does not exist");
        return;
      }
      List<Path> entries = list(dir);
      if (entries == null) {
        return;
      }
      for (Path entry : entries) {
        entry(entry);
      }
    }

    private void entry(Path path) {
      if (!firstVisit(path)) {
        return;
      }
      if (Files.isDirectory(path)) {
        subFolder(path);
      } else if (!isJarName(path)) {
        problem(path, "not a jar; a plugin folder may hold only .jar files and folders of .jar files");
      } else {
        String refusal = inspectJar(path);
        if (refusal != null) {
          problem(path, refusal);
        } else {
          plugin(path, List.of(path));
        }
      }
    }

    private void subFolder(Path dir) {
      List<Path> entries = list(dir);
      if (entries == null) {
        return;
      }
      List<Path> jars = new ArrayList<>();
      boolean refused = false;
      for (Path entry : entries) {
        if (Files.isDirectory(entry)) {
          problem(entry, "a folder inside the plugin folder " + dir + "; only the jars directly in "
              + dir.getFileName() + " are loaded");
        } else if (!isJarName(entry)) {
          problem(entry, "not a jar; a plugin folder may hold only .jar files");
        } else {
          String refusal = inspectJar(entry);
          if (refusal != null) {
            problem(entry, refusal + "; the plugin " + dir + " is not loaded");
            refused = true;
          } else {
            jars.add(entry);
          }
        }
      }
      if (refused) {
        return;
      }
      if (jars.isEmpty()) {
        problem(dir, "plugin folder holds no jars");
        return;
      }
      plugin(dir, jars);
    }

    /** Creates the plugin's class loader and registers the providers it declares. */
    private void plugin(Path path, List<Path> jars) {
      PluginClassLoader loader = new PluginClassLoader(path.getFileName().toString(), jars, host);
      List<ProviderInfo> added = new ArrayList<>();
      int before = problems.size();
      providers(TokenMixerProvider.class, ProviderInfo.Kind.TOKEN, path, loader, added);
      providers(ChannelMixerProvider.class, ProviderInfo.Kind.CHANNEL, path, loader, added);
      if (!added.isEmpty()) {
        loaded.add(new LoadedPlugin(path, jars, loader, added));
        return;
      }
      if (problems.size() == before) {
        problem(path, "declares no mixer providers: it needs a META-INF/services/"
            + TokenMixerProvider.class.getName() + " or META-INF/services/" + ChannelMixerProvider.class.getName()
            + " file listing its provider classes");
      }
      try {
        loader.close();
      } catch (IOException e) {
        problem(path, "cannot close its class loader: " + e.getMessage());
      }
    }

    /**
     * Registers the providers of {@code service} that {@code loader} declares. The services file is read
     * with {@link ServiceLoader#stream()}, which loads each provider class without initialising it; the
     * class is initialised and instantiated, and its declarations read once, by {@link #instantiate} under
     * the time limit, so a provider whose static initialiser (or constructor, or a class its declarations
     * use) hangs is skipped with a problem instead of hanging every command.
     */
    private <S extends MixerProvider> void providers(
        Class<S> service, ProviderInfo.Kind kind, Path path, PluginClassLoader loader, List<ProviderInfo> added) {
      String what = "cannot load a " + kind.words() + " provider listed in META-INF/services/" + service.getName();
      Iterator<ServiceLoader.Provider<S>> it = ServiceLoader.load(service, loader).stream().iterator();
      while (true) {
        ServiceLoader.Provider<S> found;
        try {
          if (!it.hasNext()) {
            return;
          }
          found = it.next();
        } catch (ServiceConfigurationError e) {
          // The lookup has moved past the faulty entry: carry on with the next one.
          problem(path, what + ": " + describe(e, service));
          continue;
        } catch (LinkageError e) {
          problem(path, what + ": " + e);
          continue;
        }
        String className = found.type().getName();
        S provider;
        try {
          provider = TimeLimit.run(timeLimit, "plugin provider " + className, () -> instantiate(found));
        } catch (TimeoutException e) {
          problem(path, kind.words() + " provider " + className + " did not finish loading within "
              + seconds(timeLimit) + " (its class initialiser, constructor or declarations hang), so it is skipped;"
              + " fix the plugin or remove it from the plugin folder (if it is only slow, raise "
              + TIME_LIMIT_VARIABLE + ", in seconds)");
          continue;
        } catch (ExecutionException e) {
          Throwable cause = e.getCause();
          problem(path, cause instanceof ServiceConfigurationError sce
              ? what + ": " + describe(sce, service)
              : kind.words() + " provider " + className + " failed while being loaded: " + MixerCalls.describe(cause));
          continue;
        }
        Class<?> type = provider.getClass();
        Origin source = Origin.plugin(type.getClassLoader() == loader ? Path.of(ProviderInfo.locationOf(type)) : path);
        try {
          builder.add(provider, source);
          added.add(new ProviderInfo(provider, kind, source));
        } catch (RegistryException e) {
          problem(path, e.getMessage());
        } catch (RuntimeException | LinkageError e) {
          problem(path, kind.words() + " provider " + type.getName() + " failed while being registered: " + e);
        }
      }
    }

    private boolean firstVisit(Path path) {
      Path key;
      try {
        key = path.toRealPath();
      } catch (IOException e) {
        key = path;
      }
      return seen.add(key);
    }

    private List<Path> list(Path dir) {
      try (Stream<Path> s = Files.list(dir)) {
        return s.filter(p -> !p.getFileName().toString().startsWith("."))
            .sorted()
            .toList();
      } catch (IOException e) {
        problem(dir, "cannot list the plugin folder: " + e);
        return null;
      }
    }

    private void problem(Path path, String cause) {
      problems.add(new PluginProblem(path, cause));
    }
  }

  /**
   * Initialises and instantiates a provider and reads its name and SPI version, which registering it
   * needs. Its other declarations are read too, only so that any class they initialise is initialised
   * here, under the time limit: what they throw is reported where they are used (through
   * {@link dev.leviathan.core.registry.GuardedMixers}), naming the mixer.
   */
  private static <S extends MixerProvider> S instantiate(ServiceLoader.Provider<S> found) {
    S provider = found.get();
    provider.name();
    provider.spiVersion();
    try {
      provider.description();
      provider.causal();
      provider.version();
      provider.options();
    } catch (Throwable ignored) {
      // Reported at use.
    }
    return provider;
  }

  /**
   * The time limit for loading one provider: {@code envValue} seconds (the value of
   * {@value #TIME_LIMIT_VARIABLE}), or {@link #DEFAULT_TIME_LIMIT} when it is unset or blank.
   *
   * @throws IllegalArgumentException when it is not a positive number
   */
  public static Duration timeLimit(String envValue) {
    if (envValue == null || envValue.isBlank()) {
      return DEFAULT_TIME_LIMIT;
    }
    double s;
    try {
      s = Double.parseDouble(envValue.strip());
    } catch (NumberFormatException e) {
      s = Double.NaN;
    }
    if (!(s > 0) || s > 86_400) {
      throw new IllegalArgumentException(TIME_LIMIT_VARIABLE + " must be a number of seconds between 0 and 86400,"
          + " got '" + envValue + "'; unset it to use " + seconds(DEFAULT_TIME_LIMIT));
    }
    return Duration.ofNanos((long) (s * 1e9));
  }

  private static String seconds(Duration d) {
    double s = d.toNanos() / 1e9;
    return (s == Math.rint(s) ? Long.toString((long) s) : Double.toString(s)) + " s";
  }

  private static boolean isJarName(Path path) {
    return path.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".jar");
  }

  /**
   * Opens a jar and checks that it is readable and bundles neither TensorFlow nor JavaCPP.
   *
   * @return {@code null} when the jar is acceptable, else why it is refused
   */
  static String inspectJar(Path jar) {
    try (JarFile file = new JarFile(jar.toFile(), false)) {
      Enumeration<JarEntry> entries = file.entries();
      while (entries.hasMoreElements()) {
        JarEntry entry = entries.nextElement();
        String name = entry.getName();
        if (entry.isDirectory()) {
          continue;
        }
        for (String prefix : NATIVE_PREFIXES) {
          if (name.startsWith(prefix)) {
            String library = prefix.equals("org/tensorflow/") ? "TensorFlow" : "JavaCPP";
            return "bundles " + library + " classes (" + name + "); TensorFlow's native library can be loaded"
                + " only once per process, so a plugin must use the copy Leviathan provides: depend on"
                + " leviathan-core (and TensorFlow) with <scope>provided</scope> and rebuild the jar without them";
          }
        }
      }
      return null;
    } catch (IOException | RuntimeException e) {
      String detail = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      return "not a readable jar (" + detail + "); replace it with a complete copy";
    }
  }

  /** The error's text without the service-name prefix the JDK puts in front, plus its cause. */
  private static String describe(ServiceConfigurationError e, Class<?> service) {
    String message = String.valueOf(e.getMessage());
    String prefix = service.getName() + ": ";
    if (message.startsWith(prefix)) {
      message = message.substring(prefix.length());
    }
    Throwable cause = e.getCause();
    return cause == null ? message : message + ": " + cause;
  }
}
