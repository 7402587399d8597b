package dev.leviathan.app;

import com.google.inject.Inject;
import com.google.inject.name.Named;
import dev.leviathan.core.model.LanguageModel;
import dev.leviathan.core.model.Parameter;
import dev.leviathan.core.model.ResolvedLayer;
import dev.leviathan.core.registry.GuardedMixers;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.registry.ProviderInfo;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.ParameterExport;
import dev.leviathan.trainer.AtomicFiles;
import dev.leviathan.trainer.RunDirectory;
import dev.leviathan.trainer.Trainer;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code leviathan export --format NAME}: the weights of a trained run in a format that a mixer provider
 * defines ({@link ParameterExport}): the parameters of the layers whose provider offers the format are
 * encoded as it says (e.g. {@code ternary}: every BitLinear weight of {@code mlgru} and {@code glu-mml}
 * with {@code quantize=on} at 2 bits per weight plus one float32 scale), every other parameter in float32;
 * {@code --format savedmodel} writes the whole model as a TensorFlow SavedModel.
 */
@Command(name = "export", mixinStandardHelpOptions = true,
    description = "Export a run's weights; --format ternary packs BitLinear weights at 2 bits each,"
        + " --format savedmodel writes a TensorFlow SavedModel folder.")
final class ExportCommand implements Callable<Integer> {
  /** The whole model as a TensorFlow SavedModel ({@link SavedModelExport}); every other format is a provider's. */
  static final String SAVED_MODEL = "savedmodel";

  @Option(names = "--run", required = true, paramLabel = "DIR", description = "Run directory written by train.")
  Path run;

  @Option(names = "--format", required = true, paramLabel = "ternary|savedmodel", description = "Export format.")
  String format;

  @Option(names = "--out", required = true, paramLabel = "FILE|DIR", description = "File (ternary) or new folder (savedmodel) to write.")
  Path out;

  @Option(names = "--checkpoint", paramLabel = "last|best", description = "Which checkpoint (default: ${DEFAULT-VALUE}).")
  String checkpoint = "last";

  private final Trainer trainer;
  private final MixerRegistry registry;
  private final PrintStream stdout;
  private final Path workingDir;

  @Inject
  ExportCommand(Trainer trainer, MixerRegistry registry, @Named("out") PrintStream stdout,
      @Named("workingDir") Path workingDir) {
    this.trainer = trainer;
    this.registry = registry;
    this.stdout = stdout;
    this.workingDir = workingDir;
  }

  /** A mixer of the run whose provider offers the format: its parameter-name prefix and options. */
  private record Encoder(String prefix, ParameterExport export, MixerOptions options) {}

  @Override
  public Integer call() {
    if (format.equals(SAVED_MODEL)) {
      return SavedModelExport.run(trainer, workingDir.resolve(run), checkpoint, workingDir.resolve(out), stdout);
    }
    List<String> offeredBy = providersOffering(format);
    if (offeredBy.isEmpty()) {
      TreeSet<String> formats = new TreeSet<>();
      exports().forEach(e -> formats.add(e.exportFormat()));
      throw new IllegalArgumentException("unknown export format '" + format + "'; the supported formats are: "
          + String.join(", ", formats) + (formats.isEmpty() ? "" : ", ") + SAVED_MODEL);
    }
    Path runDir = workingDir.resolve(run);
    Path file = workingDir.resolve(out);
    try (Trainer.LoadedRun loaded = trainer.open(runDir, checkpoint)) {
      List<Encoder> encoders = encoders(loaded.resolved().layers());
      Map<String, float[]> values = loaded.runtime().parameters().read(loaded.runtime().session());
      List<ParameterExport.ExportTensor> tensors = new ArrayList<>();
      ParameterExport writer = null;
      int encoded = 0;
      for (Parameter p : loaded.runtime().parameters().all()) {
        Encoder enc = encoderOf(p.name(), encoders);
        boolean special = enc != null;
        tensors.add(new ParameterExport.ExportTensor(p.name(), p.shape(), values.get(p.name()), special));
        if (special) {
          writer = writer == null ? enc.export() : writer;
          encoded++;
        }
      }
      if (writer == null) {
        throw new IllegalArgumentException("run " + runDir + " has no layer whose parameters the " + format
            + " format encodes (the format belongs to " + String.join(", ", offeredBy) + "; check their options, e.g."
            + " quantize), so there is nothing to export");
      }
      ParameterExport chosen = writer;
      AtomicFiles.write(file, o -> chosen.write(o, tensors));
      long checkpointBytes = new RunDirectory(runDir).checkpoints().variablesBytes(checkpoint);
      long exportBytes = size(file);
      long float32Bytes = 4 * loaded.runtime().parameters().count();
      stdout.printf(Locale.ROOT, "wrote %s: %d tensors (%d %s, %d float32), %,d bytes;"
              + " the parameters in float32 take %,d bytes (%.1fx), the checkpoint with AdamW moments %,d bytes%n",
          file, tensors.size(), encoded, chosen.encodedWords(), tensors.size() - encoded, exportBytes, float32Bytes,
          (double) float32Bytes / exportBytes, checkpointBytes);
    }
    return 0;
  }

  private List<ProviderInfo> allProviders() {
    List<ProviderInfo> all = new ArrayList<>(registry.tokenMixers());
    all.addAll(registry.channelMixers());
    return all;
  }

  /** The export formats the providers offer, each guarded ({@link GuardedMixers#export}). */
  private List<ParameterExport> exports() {
    return allProviders().stream().map(GuardedMixers::export).filter(Objects::nonNull).toList();
  }

  private List<String> providersOffering(String name) {
    return allProviders().stream()
        .filter(p -> offers(GuardedMixers.export(p), name))
        .map(ProviderInfo::name).toList();
  }

  /** The run's mixers whose provider offers the format, by parameter-name prefix. */
  private List<Encoder> encoders(List<ResolvedLayer> layers) {
    Map<String, Encoder> out = new LinkedHashMap<>();
    for (ResolvedLayer l : layers) {
      add(out, LanguageModel.mixerScope(l.index(), true), l.tokenMixer(), l.tokenOptions());
      add(out, LanguageModel.mixerScope(l.index(), false), l.channelMixer(), l.channelOptions());
    }
    return List.copyOf(out.values());
  }

  private void add(Map<String, Encoder> out, String scope, ProviderInfo info, MixerOptions options) {
    ParameterExport e = GuardedMixers.export(info);
    if (offers(e, format)) {
      out.put(scope, new Encoder(scope + "/", e, options));
    }
  }

  private static boolean offers(ParameterExport export, String format) {
    return export != null && export.exportFormat().equals(format);
  }

  private static Encoder encoderOf(String parameter, List<Encoder> encoders) {
    for (Encoder e : encoders) {
      if (parameter.startsWith(e.prefix()) && e.export().encodes(parameter.substring(e.prefix().length()), e.options())) {
        return e;
      }
    }
    return null;
  }

  private static long size(Path f) {
    try {
      return Files.size(f);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
