package dev.leviathan.app;

import com.google.inject.Inject;
import com.google.inject.name.Named;
import dev.leviathan.core.plugin.PluginLoadResult;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.trainer.ConfigException;
import dev.leviathan.trainer.ConfigLoader;
import dev.leviathan.trainer.Devices;
import dev.leviathan.trainer.ResolvedRun;
import dev.leviathan.trainer.RunDirectory;
import dev.leviathan.trainer.RunMetadata;
import dev.leviathan.trainer.RunSpec;
import dev.leviathan.trainer.RuntimeSpec;
import dev.leviathan.trainer.Trainer;
import dev.leviathan.trainer.cluster.ClusterSpec;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
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

  @Option(names = "--checkpoint", paramLabel = "last|best|PATH",
      description = "With --resume: the checkpoint to continue from (default: last).")
  String checkpoint;

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

  @Option(names = "--cluster", paramLabel = "HOST:PORT,...",
      description = "Every worker of a data-parallel run, task 0 first (instead of TF_CONFIG; with --task).")
  String cluster;

  @Option(names = "--task", paramLabel = "I", description = "This worker's index into --cluster.")
  String task;

  @Option(names = "--collective-timeout", paramLabel = "SECONDS",
      description = "Data-parallel runs: how long a worker waits for the others at a step. Default: 60.")
  Float collectiveTimeout;

  private final Trainer trainer;
  private final MixerRegistry registry;
  private final PrintStream stdout;
  private final PrintStream stderr;
  private final Path workingDir;
  private final boolean installSignalHandler;
  private final PluginLoadResult found;
  private final Map<String, String> env;

  @Inject
  TrainCommand(Trainer trainer, MixerRegistry registry, @Named("out") PrintStream stdout,
      @Named("err") PrintStream stderr, @Named("workingDir") Path workingDir,
      @Named("installSignalHandler") Boolean installSignalHandler, PluginLoadResult found,
      @Named("env") Map<String, String> env) {
    this.env = env;
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
    found.problemLines().forEach(p -> stderr.println("warning: " + p));
    if (checkpoint != null && !resume) {
      throw new ConfigException("--checkpoint only applies to --resume; add --resume, or drop --checkpoint");
    }
    RunDirectory resumed = resume ? resumeDir() : null;
    Path base = config != null ? workingDir.resolve(config) : resumed != null ? resumed.config() : null;
    ClusterSpec clusterSpec = ClusterSpec.resolve(env.get(ClusterSpec.TF_CONFIG), cluster, task).orElse(null);
    if (clusterSpec == null && collectiveTimeout != null) {
      throw new ConfigException("--collective-timeout needs a cluster (TF_CONFIG or --cluster/--task)");
    }
    RunSpec spec = RunConfigs.resolve(base, mixer, data, steps, seed, allowNoncausal, sets, workingDir)
        .withDevice(device)
        .withCluster(clusterSpec, collectiveTimeout != null ? collectiveTimeout
            : RuntimeSpec.DEFAULT_COLLECTIVE_TIMEOUT_SECONDS);
    if (printConfig) {
      stdout.print(ConfigLoader.toYaml(spec));
      return 0;
    }
    ResolvedRun resolved = spec.resolve(registry); // unknown mixers and bad options fail before anything is written
    RunDirectory run = resumed;
    if (run == null) {
      run = out != null ? new RunDirectory(workingDir.resolve(out)) : RunDirectory.newRun(workingDir,
          spec.model().mixerLabel());
      OutDirectory.requireUsable(run.path(), "--out");
      if (run.checkpoints().holdsRun()) {
        throw new ConfigException("run directory " + run.path() + " already holds a run; pass --resume to continue it"
            + " or choose another --out");
      }
    }
    String from = !resume ? null : checkpoint == null || checkpoint.equals("last") || checkpoint.equals("best")
        ? (checkpoint == null ? "last" : checkpoint) : workingDir.resolve(checkpoint).toString();
    if (installSignalHandler) {
      SignalStop.install(trainer::requestStop, new AtomicBoolean(), "writing a checkpoint and stopping", stderr);
    }
    Devices.Placement placement = Devices.place(spec.runtime());
    stdout.println(placement.describe());
    RunMetadata launch = RunMetadata.launched("leviathan train " + String.join(" ", commandLine()), placement);
    if (clusterSpec != null) {
      if (placement.modelDevice().toLowerCase(Locale.ROOT).equals("gpu")) {
        throw new ConfigException("data-parallel training runs on CPU only (TensorFlow's CPU collectives);"
            + " pass --device cpu");
      }
      int b = spec.schedule().batch();
      stdout.printf(Locale.ROOT, "cluster: %s; global batch %d workers x %d = %d%n", clusterSpec.describe(),
          clusterSpec.size(), b, clusterSpec.size() * b);
      launch = launch.withCluster(new RunMetadata.Cluster(clusterSpec.workers().stream().map(Object::toString)
          .toList(), clusterSpec.task(), b, clusterSpec.size() * b));
    }
    boolean bar = !noProgress && System.console() != null;
    Trainer.Result r = trainer.train(resolved, run.path(), from, new ConsoleListener(stdout, bar), launch);
    stdout.printf(Locale.ROOT, "final: step=%d val_loss=%.4f val_bpc=%.4f tokens_per_sec=%.0f%n", r.step(), r.valLoss(),
        r.valBpc(), r.tokensPerSec());
    if (!r.sample().isEmpty()) {
      String s = r.sample().length() > 300 ? r.sample().substring(0, 300) : r.sample();
      stdout.println("sample:\n" + s);
    }
    if (clusterSpec != null) {
      stdout.println("cluster: all " + clusterSpec.size() + " workers ended at step " + r.step()
          + " with bitwise equal parameters");
    }
    if (r.interrupted()) {
      stdout.println("stopped at step " + r.step() + "; continue with: leviathan train --resume --out " + run.path());
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
    if (checkpoint != null) args.add("--checkpoint " + checkpoint);
    if (allowNoncausal) args.add("--allow-noncausal");
    if (device != Devices.Choice.AUTO) args.add("--device " + device);
    if (cluster != null) args.add("--cluster " + cluster);
    if (task != null) args.add("--task " + task);
    if (collectiveTimeout != null) args.add("--collective-timeout " + collectiveTimeout);
    return args;
  }

  private RunDirectory resumeDir() {
    if (out != null) {
      Path dir = workingDir.resolve(out);
      if (!Files.isDirectory(dir)) {
        throw new ConfigException("cannot resume: run directory " + dir + (Files.exists(dir) ? " is a file" : " does not"
            + " exist") + "; pass the folder of an earlier run with --out, or start one with: leviathan train --out "
            + out);
      }
      if (!Files.isRegularFile(dir.resolve("config.yaml"))) {
        throw new ConfigException("cannot resume: " + dir + " is not a run directory (it has no config.yaml); pass"
            + " the folder of an earlier run with --out, or start one with: leviathan train --out " + out);
      }
      return new RunDirectory(dir);
    }
    return RunDirectory.latest(workingDir).orElseThrow(() -> new ConfigException("cannot resume: no run with"
        + " checkpoints under " + RunDirectory.runsFolder(workingDir) + "; pass --out DIR"));
  }
}
