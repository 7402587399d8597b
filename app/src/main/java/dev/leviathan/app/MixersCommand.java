package dev.leviathan.app;

import com.google.inject.Inject;
import com.google.inject.name.Named;
import dev.leviathan.core.plugin.PluginLoadResult;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.registry.ProviderInfo;
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

  @Override
  public Integer call() {
    found.problemLines().forEach(p -> err.println("warning: " + p));
    List<ProviderInfo> all = new ArrayList<>(registry.tokenMixers());
    all.addAll(registry.channelMixers());
    if (json) {
      List<Map<String, Object>> list = new ArrayList<>();
      for (ProviderInfo p : all) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", p.kind() == ProviderInfo.Kind.TOKEN ? "token" : "channel");
        m.put("name", p.name());
        m.put("description", p.provider().description());
        m.put("causal", p.provider().causal());
        m.put("version", p.provider().version());
        m.put("spi-version", p.provider().spiVersion());
        m.put("source", p.source());
        List<Map<String, Object>> opts = new ArrayList<>();
        for (OptionSpec o : p.provider().options()) {
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
      for (ProviderInfo p : all) {
        if (p.kind() != kind) {
          continue;
        }
        out.printf("  %-20s %s%s%n", p.name(), p.provider().description(), p.provider().causal() ? "" : " [NOT causal]");
        out.printf("  %-20s version %s, from %s%n", "", p.provider().version(), p.source());
        for (OptionSpec o : p.provider().options()) {
          out.printf("  %-20s   %s=%s (%s): %s%n", "", o.name(), o.defaultText(), o.allowedText(), o.help());
        }
      }
      out.println();
    }
    return 0;
  }
}
