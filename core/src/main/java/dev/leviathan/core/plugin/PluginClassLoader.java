package dev.leviathan.core.plugin;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.List;
import java.util.Objects;

/**
 * The class loader of one plugin: a jar, or a folder of jars.
 *
 * <p>Where a class comes from:
 *
 * <ul>
 *   <li>Packages in {@link #HOST_PACKAGES} always come from the host, never from the plugin, even if
 *       the plugin bundles a copy:
 *       <ul>
 *         <li>{@code dev.leviathan.core} holds the SPI; a provider is usable only if its
 *             {@code TokenMixerProvider}, {@code LayerContext} and so on are the host's classes.
 *         <li>{@code org.tensorflow} and {@code org.bytedeco} (JavaCPP, which loads TensorFlow's
 *             native library): the native library can be loaded only once per process, and the graph
 *             ops a mixer builds must be the same classes the model and the trainer use.
 *         <li>{@code org.slf4j}: the logging API binds to one logging backend per class loader; sharing
 *             the host's API sends a plugin's log lines to the same place as Leviathan's, where a
 *             plugin's own copy would find no backend and drop them.
 *       </ul>
 *   <li>JDK classes come from the platform class loader (the parent).
 *   <li>Everything else comes from the plugin's own jars. The host's application class path is not
 *       visible, so a library the plugin bundles is the version it gets, whatever version Leviathan
 *       itself uses, and a plugin cannot come to depend by accident on a library only the host has.
 * </ul>
 *
 * Resources follow the same rule, so {@code META-INF/services} files are read from the plugin's
 * jars only.
 */
public final class PluginClassLoader extends URLClassLoader {
  static {
    ClassLoader.registerAsParallelCapable();
  }

  /** Package prefixes the host provides to every plugin (with the trailing dot). */
  public static final List<String> HOST_PACKAGES =
      List.of("dev.leviathan.core.", "org.tensorflow.", "org.bytedeco.", "org.slf4j.");

  private static final List<String> HOST_RESOURCES =
      HOST_PACKAGES.stream().map(p -> p.replace('.', '/')).toList();

  private final ClassLoader host;
  private final List<Path> jars;

  /**
   * @param name the plugin's name, shown in stack traces
   * @param jars the plugin's jars
   * @param host the class loader that provides the host-owned packages
   */
  public PluginClassLoader(String name, List<Path> jars, ClassLoader host) {
    super(name, urls(jars), ClassLoader.getPlatformClassLoader());
    this.host = Objects.requireNonNull(host, "host");
    this.jars = List.copyOf(jars);
  }

  /** The jars this loader reads classes from. */
  public List<Path> jars() {
    return jars;
  }

  /** Whether {@code className} belongs to a package the host provides. */
  public static boolean isHostClass(String className) {
    for (String p : HOST_PACKAGES) {
      if (className.startsWith(p)) {
        return true;
      }
    }
    return false;
  }

  private static boolean isHostResource(String resource) {
    for (String p : HOST_RESOURCES) {
      if (resource.startsWith(p)) {
        return true;
      }
    }
    return false;
  }

  @Override
  protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
    if (isHostClass(name)) {
      return host.loadClass(name);
    }
    // The parent is the platform loader: JDK classes first, then this plugin's jars.
    return super.loadClass(name, resolve);
  }

  @Override
  public URL getResource(String name) {
    return isHostResource(name) ? host.getResource(name) : super.getResource(name);
  }

  @Override
  public Enumeration<URL> getResources(String name) throws IOException {
    return isHostResource(name) ? host.getResources(name) : super.getResources(name);
  }

  private static URL[] urls(List<Path> jars) {
    URL[] urls = new URL[jars.size()];
    for (int i = 0; i < urls.length; i++) {
      try {
        urls[i] = jars.get(i).toUri().toURL();
      } catch (MalformedURLException e) {
        throw new UncheckedIOException("cannot turn " + jars.get(i) + " into a URL", e);
      }
    }
    return urls;
  }

  @Override
  public String toString() {
    return "PluginClassLoader[" + getName() + "]";
  }
}
