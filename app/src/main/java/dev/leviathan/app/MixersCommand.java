package dev.leviathan.app;

import com.google.inject.Inject;
import com.google.inject.name.Named;
import dev.leviathan.core.plugin.PluginLoadResult;
import dev.leviathan.core.registry.GuardedMixers;
import dev.leviathan.core.registry.MixerCallException;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.registry.ProviderInfo;
import dev.leviathan.core.spi.MixerProvider;
import dev.leviathan.core.spi.OptionSpec;
import dev.leviathan.trainer.Json;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code leviathan mixers}: every token and channel mixer with its options and origin. */
@Command(name = "mixers", mixinStandardHelpOptions = true,
    description = "List the token and channel mixers: options, defaults, version and where each came from.")
final class MixersCommand implements Callable<Integer> {
  @Option(names = "--json", description = "Print JSON.")
  boolean json;

  private final MixerRegistry registry;
  private final PrintStream out;
  private final PrintStream err;
  private final PluginLoadResult found;

  @Inject
  MixersCommand(MixerRegistry registry, @Named("out") PrintStream out, @Named("err") PrintStream err,
      PluginLoadResult found) {
    this.registry = registry;
    this.out = out;
    this.err = err;
    this.found = found;
  }

  /** What {@code mixers} shows of one provider, read through its guard. */
  private record Entry(ProviderInfo info, String description, boolean causal, String version, int spiVersion,
      List<OptionSpec> options) {
    static Entry read(ProviderInfo info) {
      MixerProvider p = GuardedMixers.of(info);
      return new Entry(info, p.description(), p.causal(), p.version(), p.spiVersion(), p.options());
    }
  }

  @Override
  public Integer call() {
    found.problemLines().forEach(p -> err.println("warning: " + p));
    List<ProviderInfo> all = new ArrayList<>(registry.tokenMixers());
    all.addAll(registry.channelMixers());
    // A mixer whose code fails is left out with one warning naming it and its jar; the others are listed.
    List<Entry> entries = new ArrayList<>();
    for (ProviderInfo p : all) {
      try {
        entries.add(Entry.read(p));
      } catch (MixerCallException e) {
        err.println("warning: " + e.getMessage());
      }
    }
    if (json) {
      List<Map<String, Object>> list = new ArrayList<>();
      for (Entry e : entries) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", e.info().kind() == ProviderInfo.Kind.TOKEN ? "token" : "channel");
        m.put("name", e.info().name());
        m.put("description", e.description());
        m.put("causal", e.causal());
        m.put("version", e.version());
        m.put("spi-version", e.spiVersion());
        m.put("source", e.info().source());
        List<Map<String, Object>> opts = new ArrayList<>();
        for (OptionSpec o : e.options()) {
          Map<String, Object> om = new LinkedHashMap<>();
          om.put("name", o.name());
          om.put("type", o.type().toString());
          om.put("default", o.defaultText());
          om.put("allowed", o.allowedText());
          om.put("help", o.help());
          opts.add(om);
        }
        m.put("options", opts);
        list.add(m);
      }
      out.print(Json.pretty(list));
      return 0;
    }
    for (ProviderInfo.Kind kind : ProviderInfo.Kind.values()) {
      out.println(kind == ProviderInfo.Kind.TOKEN ? "Token mixers" : "Channel mixers");
      for (Entry e : entries) {
        if (e.info().kind() != kind) {
          continue;
        }
        out.printf("  %-20s %s%s%n", e.info().name(), e.description(), e.causal() ? "" : " [NOT causal]");
        out.printf("  %-20s version %s, from %s%n", "", e.version(), e.info().source());
        for (OptionSpec o : e.options()) {
          out.printf("  %-20s   %s=%s (%s): %s%n", "", o.name(), o.defaultText(), o.allowedText(), o.help());
        }
      }
      out.println();
    }
    return 0;
  }
}
