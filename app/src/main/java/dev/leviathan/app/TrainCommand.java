package dev.leviathan.app;

import com.google.inject.Inject;
import com.google.inject.name.Named;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.trainer.ConfigException;
import dev.leviathan.trainer.ConfigLoader;
import dev.leviathan.trainer.Devices;
import dev.leviathan.trainer.TrainConfig;
import dev.leviathan.trainer.Trainer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code leviathan train}. */
@Command(name = "train", mixinStandardHelpOptions = true,
    description = "Train a character-level language model (default: the bundled tiny Shakespeare).")
final class TrainCommand implements Callable<Integer> {
  @Option(names = "--config", paramLabel = "FILE.yaml", description = "YAML config (see configs/).")
  Path config;

  @Option(names = "--set", paramLabel = "key=value", description = "Override a config key (repeatable; applied last).")
  List<String> sets = new ArrayList<>();

  @Option(names = "--mixer", paramLabel = "NAME", description = "Token mixer for every layer (see: leviathan mixers).")
  String mixer;

  @Option(names = "--data", paramLabel = "FILE", description = "Text file to train on.")
  Path data;

  @Option(names = "--out", paramLabel = "DIR", description = "Run directory (default: runs/<timestamp>-<mixer>).")
  Path out;

  @Option(names = "--steps", paramLabel = "N", description = "Number of training steps.")
  Integer steps;

  @Option(names = "--seed", paramLabel = "N", description = "Random seed (initialisation, data order, dropout).")
  Long seed;

  @Option(names = "--resume", description = "Continue the run in --out (default: the latest run) from its last checkpoint.")
  boolean resume;

  @Option(names = "--no-progress", description = "Plain log lines instead of a progress bar.")
  boolean noProgress;

  @Option(names = "--print-config", description = "Print the resolved config and exit.")
  boolean printConfig;

  @Option(names = "--allow-noncausal", description = "Train a non-causal mixer (its loss is not a valid LM loss).")
  boolean allowNoncausal;

  @Option(names = "--device", paramLabel = "auto|cpu|gpu", defaultValue = "auto",
      description = "Where the model runs: auto (GPU:0 when TensorFlow sees a GPU), cpu (GPUs hidden) or gpu"
          + " (fails when no GPU is visible). Default: ${DEFAULT-VALUE}.")
  Devices.Choice device;

  private final Trainer trainer;
  private final MixerRegistry registry;
  private final PrintStream stdout;
  private final PrintStream stderr;
  private final Path workingDir;
  private final boolean installSignalHandler;
  private final MixerDiscovery.Found found;

  @Inject
  TrainCommand(Trainer trainer, MixerRegistry registry, @Named("out") PrintStream stdout,
      @Named("err") PrintStream stderr, @Named("workingDir") Path workingDir,
      @Named("installSignalHandler") Boolean installSignalHandler, MixerDiscovery.Found found) {
    this.trainer = trainer;
    this.registry = registry;
    this.stdout = stdout;
    this.stderr = stderr;
    this.workingDir = workingDir;
    this.installSignalHandler = installSignalHandler;
    this.found = found;
  }

  @Override
  public Integer call() {
    found.problems().forEach(p -> stderr.println("warning: " + p));
    Path runDir = resume ? resumeDir() : null;
    Path base = config != null ? workingDir.resolve(config) : resume ? runDir.resolve("config.yaml") : null;
    TrainConfig cfg = RunConfigs.resolve(base, mixer, data, steps, seed, allowNoncausal, sets, workingDir);
    if (printConfig) {
      stdout.print(ConfigLoader.toYaml(cfg));
      return 0;
    }
    RunConfigs.checkMixers(registry, cfg);
    if (!resume) {
      runDir = out != null ? workingDir.resolve(out) : newRunDir(cfg);
      if (Files.exists(runDir.resolve("checkpoints"))) {
        throw new ConfigException("run directory " + runDir + " already holds a run; pass --resume to continue it"
            + " or choose another --out");
      }
    }
    if (installSignalHandler) {
      SignalStop.install(trainer::requestStop, new AtomicBoolean(), "writing a checkpoint and stopping", stderr);
    }
    Devices.Placement placement = Devices.place(device);
    stdout.println(placement.describe());
    Map<String, Object> info = new LinkedHashMap<>();
    info.put("leviathan", dev.leviathan.trainer.Versions.leviathan());
    info.put("java", System.getProperty("java.version"));
    info.put("device", placement.modelDevice().toLowerCase(Locale.ROOT));
    info.put("model-runs-on", placement.modelDevice() + " (" + placement.primary() + ")");
    info.put("device-option", device.toString());
    info.put("devices", placement.devices().stream().map(Devices.Device::toMap).toList());
    info.put("command", "leviathan train " + String.join(" ", commandLine()));
    boolean bar = !noProgress && System.console() != null;
    Trainer.Result r;
    Devices.select(device);
    try {
      r = trainer.train(cfg, runDir, resume, new ConsoleListener(stdout, bar), info);
    } finally {
      Devices.select(Devices.Choice.AUTO);
    }
    stdout.printf(Locale.ROOT, "final: step=%d val_loss=%.4f val_bpc=%.4f tokens_per_sec=%.0f%n", r.step(), r.valLoss(),
        r.valBpc(), r.tokensPerSec());
    if (!r.sample().isEmpty()) {
      String s = r.sample().length() > 300 ? r.sample().substring(0, 300) : r.sample();
      stdout.println("sample:\n" + s);
    }
    if (r.interrupted()) {
      stdout.println("stopped at step " + r.step() + "; continue with: leviathan train --resume --out " + runDir);
      return Main.EXIT_INTERRUPTED;
    }
    return 0;
  }

  private List<String> commandLine() {
    List<String> args = new ArrayList<>();
    if (config != null) args.add("--config " + config);
    sets.forEach(s -> args.add("--set " + s));
    if (mixer != null) args.add("--mixer " + mixer);
    if (data != null) args.add("--data " + data);
    if (out != null) args.add("--out " + out);
    if (steps != null) args.add("--steps " + steps);
    if (seed != null) args.add("--seed " + seed);
    if (resume) args.add("--resume");
    if (allowNoncausal) args.add("--allow-noncausal");
    if (device != Devices.Choice.AUTO) args.add("--device " + device);
    return args;
  }

  private Path newRunDir(TrainConfig cfg) {
    String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
    Path dir = workingDir.resolve("runs").resolve(stamp + "-" + cfg.mixerLabel());
    for (int i = 2; Files.exists(dir); i++) {
      dir = workingDir.resolve("runs").resolve(stamp + "-" + cfg.mixerLabel() + "-" + i);
    }
    return dir;
  }

  private Path resumeDir() {
    if (out != null) {
      Path dir = workingDir.resolve(out);
      if (!Files.isDirectory(dir)) {
        throw new ConfigException("cannot resume: run directory " + dir + " does not exist");
      }
      return dir;
    }
    Path runs = workingDir.resolve("runs");
    try (Stream<Path> s = Files.isDirectory(runs) ? Files.list(runs) : Stream.empty()) {
      return s.filter(p -> Files.isDirectory(p.resolve("checkpoints")))
          .max(Comparator.comparing(p -> p.getFileName().toString()))
          .orElseThrow(() -> new ConfigException("cannot resume: no run with checkpoints under " + runs
              + "; pass --out DIR"));
    } catch (IOException e) {
      throw new ConfigException("cannot list " + runs + ": " + e.getMessage());
    }
  }
}
