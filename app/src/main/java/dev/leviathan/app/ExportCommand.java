package dev.leviathan.app;

import com.google.inject.Inject;
import com.google.inject.name.Named;
import dev.leviathan.core.model.Parameter;
import dev.leviathan.mml.BitLinear;
import dev.leviathan.mml.TernaryPacking;
import dev.leviathan.trainer.AtomicFiles;
import dev.leviathan.trainer.CheckpointState;
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
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code leviathan export --format ternary}: the weights of a trained run with every BitLinear weight of a
 * quantised matmul-less layer ({@code mlgru}, {@code glu-mml} with {@code quantize=on}) packed at 2 bits
 * per weight plus one float32 scale per tensor, and every other parameter in float32.
 */
@Command(name = "export", mixinStandardHelpOptions = true,
    description = "Export a run's weights; --format ternary packs BitLinear weights at 2 bits each,"
        + " --format savedmodel writes a TensorFlow SavedModel folder.")
final class ExportCommand implements Callable<Integer> {
  /** Mixers whose {@code w_*} parameters are BitLinear latent weights. */
  static final Set<String> TERNARY_MIXERS = Set.of("mlgru", "glu-mml");

  @Option(names = "--run", required = true, paramLabel = "DIR", description = "Run directory written by train.")
  Path run;

  @Option(names = "--format", required = true, paramLabel = "ternary|savedmodel", description = "Export format.")
  String format;

  @Option(names = "--out", required = true, paramLabel = "FILE|DIR", description = "File (ternary) or new folder (savedmodel) to write.")
  Path out;

  @Option(names = "--checkpoint", paramLabel = "last|best", description = "Which checkpoint (default: ${DEFAULT-VALUE}).")
  String checkpoint = "last";

  private final Trainer trainer;
  private final PrintStream stdout;
  private final Path workingDir;

  private final dev.leviathan.core.registry.MixerRegistry registry;

  @Inject
  ExportCommand(Trainer trainer, dev.leviathan.core.registry.MixerRegistry registry, @Named("out") PrintStream stdout,
      @Named("workingDir") Path workingDir) {
    this.trainer = trainer;
    this.registry = registry;
    this.stdout = stdout;
    this.workingDir = workingDir;
  }

  @Override
  public Integer call() {
    if (format.equals("savedmodel")) {
      return SavedModelExport.run(trainer, workingDir.resolve(run), checkpoint, workingDir.resolve(out), stdout);
    }
    if (!format.equals("ternary")) {
      throw new IllegalArgumentException("unknown export format '" + format + "'; the supported formats are: ternary,"
          + " savedmodel");
    }
    Path runDir = workingDir.resolve(run);
    Path file = workingDir.resolve(out);
    try (Trainer.LoadedRun loaded = trainer.open(runDir, checkpoint)) {
      Set<String> ternary = ternaryPrefixes(loaded.state());
      if (ternary.isEmpty()) {
        throw new IllegalArgumentException("run " + runDir + " has no quantised matmul-less layer (mlgru or glu-mml with"
            + " quantize=on), so there is nothing to pack at 2 bits");
      }
      Map<String, float[]> values = loaded.runtime().parameters().read(loaded.runtime().session());
      List<TernaryPacking.NamedTensor> tensors = new ArrayList<>();
      int packed = 0;
      for (Parameter p : loaded.runtime().parameters().all()) {
        float[] v = values.get(p.name());
        if (isTernary(p.name(), ternary)) {
          BitLinear.Ternary t = BitLinear.ternarize(v);
          tensors.add(TernaryPacking.NamedTensor.ternary(p.name(), p.shape(), t.values(), t.scale()));
          packed++;
        } else {
          tensors.add(TernaryPacking.NamedTensor.float32(p.name(), p.shape(), v));
        }
      }
      AtomicFiles.write(file, out -> TernaryPacking.write(out, tensors));
      long checkpointBytes = new RunDirectory(runDir).checkpoints().variablesBytes(checkpoint);
      long exportBytes = size(file);
      long float32Bytes = 4 * loaded.runtime().parameters().count();
      stdout.printf(Locale.ROOT, "wrote %s: %d tensors (%d ternary at 2 bits, %d float32), %,d bytes;"
              + " the parameters in float32 take %,d bytes (%.1fx), the checkpoint with AdamW moments %,d bytes%n",
          file, tensors.size(), packed, tensors.size() - packed, exportBytes, float32Bytes,
          (double) float32Bytes / exportBytes, checkpointBytes);
    }
    return 0;
  }

  /** Parameter-name prefixes ({@code block<i>/mix/} or {@code block<i>/ffn/}) of quantised BitLinear layers. */
  static Set<String> ternaryPrefixes(CheckpointState state) {
    Set<String> prefixes = new java.util.HashSet<>();
    for (CheckpointState.LayerMixer m : state.mixers()) {
      if (TERNARY_MIXERS.contains(m.mixer()) && "on".equals(m.options().get("quantize"))) {
        prefixes.add("block" + m.layer() + (m.role().equals("token") ? "/mix/" : "/ffn/"));
      }
    }
    return prefixes;
  }

  static boolean isTernary(String name, Set<String> prefixes) {
    for (String p : prefixes) {
      if (name.startsWith(p) && name.substring(p.length()).startsWith("w_")) {
        return true;
      }
    }
    return false;
  }

  /**
   * Values to load into a model's latent weights so that its quantised forward pass uses exactly the
   * exported ternary weights: a ternary tensor {@code t g} with a fraction {@code p} of non-zeros becomes
   * {@code t g / p}, whose absmean is {@code g} again, so BitLinear re-quantises it to {@code t g}.
   */
  static Map<String, float[]> latentValues(List<TernaryPacking.NamedTensor> tensors) {
    Map<String, float[]> out = new LinkedHashMap<>();
    for (TernaryPacking.NamedTensor t : tensors) {
      float[] v = t.values().clone();
      if (t.kind() == TernaryPacking.Kind.TERNARY) {
        long nonZero = 0;
        for (float f : v) {
          nonZero += f != 0f ? 1 : 0;
        }
        double factor = nonZero == 0 ? 1 : (double) v.length / nonZero;
        for (int i = 0; i < v.length; i++) {
          v[i] = (float) (v[i] * factor);
        }
      }
      out.put(t.name(), v);
    }
    return out;
  }

  private static long size(Path f) {
    try {
      return Files.size(f);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
