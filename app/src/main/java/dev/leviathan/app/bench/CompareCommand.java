package dev.leviathan.app.bench;

import dev.leviathan.app.RunConfigs;
import dev.leviathan.app.SignalStop;

import com.google.inject.Inject;
import com.google.inject.name.Named;
import dev.leviathan.app.Main;
import dev.leviathan.core.model.ResolvedLayer;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.trainer.Checkpoints;
import dev.leviathan.trainer.ConfigException;
import dev.leviathan.trainer.Corpus;
import dev.leviathan.trainer.RunDirectory;
import dev.leviathan.trainer.RunMetadata;
import dev.leviathan.trainer.RunSpec;
import dev.leviathan.trainer.Trainer;
import dev.leviathan.trainer.TrainingListener;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code leviathan compare}: trains every mixer with the same config, data, budget and seeds, one
 * ordinary run directory per (mixer, seed), and tabulates and plots the outcome.
 */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Train several mixers with the same config, data, steps and seeds and compare them.",
        "Each run is an ordinary run directory DIR/<mixer>-seed<N>/ (sample and eval open it);"
            + " DIR/compare.csv, compare.md and compare.png are rewritten after every run."},
    footer = {"",
        "compare.csv columns: mixer,seed,steps,params,val_loss,val_bpc,tokens_per_sec,",
        "                     wall_sec,status,error",
        "  val_loss, val_bpc  validation loss (nats; bits per character), last step",
        "  tokens_per_sec     training throughput of the steps",
        "  wall_sec           training wall time with evaluations and checkpoints",
        "  status             ok, failed (error: the message) or interrupted",
        "compare.md: per mixer, mean \u00b1 sample standard deviation over finished seeds.",
        "compare.png: validation loss against step, one line per mixer (mean over its",
        "             finished seeds)."})
public final class CompareCommand implements Callable<Integer> {
  @Option(names = "--mixers", required = true, split = ",", paramLabel = "NAME",
      description = "Token mixers to compare, e.g. attention,aft-local,mlgru.")
  List<String> mixers;

  @Option(names = "--config", paramLabel = "FILE.yaml", description = "Shared YAML config (default: built-in defaults).")
  Path config;

  @Option(names = "--data", paramLabel = "FILE", description = "Text file to train on (default: the config's).")
  Path data;

  @Option(names = "--steps", paramLabel = "N", description = "Training steps of every run (default: the config's).")
  Integer steps;

  @Option(names = "--seeds", split = ",", paramLabel = "N", description = "Seeds; every mixer runs with each (default: 1).")
  List<Long> seeds = new ArrayList<>(List.of(1L));

  @Option(names = "--set", paramLabel = "key=value", description = "Override a config key for every run (repeatable).")
  List<String> sets = new ArrayList<>();

  @Option(names = "--out", paramLabel = "DIR", description = "Folder of the comparison (default: runs/compare-<timestamp>).")
  Path out;

  @Option(names = "--resume", description = "Continue the comparison in --out: skip finished runs, resume interrupted ones.")
  boolean resume;

  @Option(names = "--allow-noncausal", description = "Also train non-causal mixers (their loss is not a valid LM loss).")
  boolean allowNoncausal;

  @Spec
  CommandSpec spec;

  private final Trainer trainer;
  private final MixerRegistry registry;
  private final PrintStream stdout;
  private final PrintStream stderr;
  private final Path workingDir;
  private final boolean installSignalHandler;

  @Inject
  CompareCommand(Trainer trainer, MixerRegistry registry, @Named("out") PrintStream stdout,
      @Named("err") PrintStream stderr, @Named("workingDir") Path workingDir,
      @Named("installSignalHandler") Boolean installSignalHandler) {
    this.trainer = trainer;
    this.registry = registry;
    this.stdout = stdout;
    this.stderr = stderr;
    this.workingDir = workingDir;
    this.installSignalHandler = installSignalHandler;
  }

  @Override
  public Integer call() {
    List<String> names = distinct(mixers.stream().map(String::strip).toList(), "--mixers");
    List<Long> seedList = distinct(seeds, "--seeds");
    if (steps != null && steps < 1) {
      throw new ParameterException(spec.commandLine(), "--steps must be >= 1, got " + steps);
    }
    for (String s : sets) {
      String key = s.contains("=") ? s.substring(0, s.indexOf('=')).strip() : s;
      if (List.of("token-mixer", "token-mixers", "seed").contains(key)) {
        throw new ParameterException(spec.commandLine(), "--set " + key + " is not allowed here: compare sets it per"
            + " run; use " + (key.equals("seed") ? "--seeds" : "--mixers"));
      }
    }
    if (resume && out == null) {
      throw new ParameterException(spec.commandLine(), "--resume needs --out DIR, the folder of the comparison");
    }
    Path base = config != null ? workingDir.resolve(config) : null;
    for (String m : names) {
      preflight(configFor(base, m, seedList.get(0)));
    }
    RunSpec first = configFor(base, names.get(0), seedList.get(0));
    // a missing or unusable data file fails before any run
    Corpus corpus = Corpus.load(first.data(), first.model().context(), null);
    Path dir = out != null ? workingDir.resolve(out).normalize() : RunDirectory.createIn(workingDir, "compare-", "");
    CompareReport report = new CompareReport(dir, names, settings(first, corpus, seedList));
    if (!resume) {
      for (long s : seedList) {
        for (String m : names) {
          if (new RunDirectory(report.runDir(m, s)).hasCheckpoints()) {
            throw new ConfigException("the comparison folder " + dir + " already holds the run "
                + CompareReport.runName(m, s) + "; pass --resume to continue the comparison or choose another --out");
          }
        }
      }
    }

    AtomicBoolean stopRequested = new AtomicBoolean();
    if (installSignalHandler) {
      SignalStop.install(trainer::requestStop, stopRequested, "checkpointing the current run and stopping", stderr);
    }
    stdout.printf(Locale.ROOT, "compare: %s x seeds %s, %d steps each, in %s%n", String.join(", ", names),
        seedList, first.schedule().steps(), dir);
    List<CompareRow> rows = new ArrayList<>();
    boolean interrupted = false;
    for (long seed : seedList) {
      for (String m : names) {
        if (stopRequested.get()) {
          interrupted = true;
          break;
        }
        CompareRow row = runOne(report, configFor(base, m, seed), m, seed);
        rows.add(row);
        report.write(rows);
        if (row.status().equals(CompareRow.INTERRUPTED)) {
          interrupted = true;
          break;
        }
      }
      if (interrupted) {
        break;
      }
    }
    report.write(rows);
    stdout.println();
    stdout.print(report.markdown(rows).lines().filter(l -> l.startsWith("|") || l.startsWith("- "))
        .map(l -> l + System.lineSeparator()).reduce("", String::concat));
    stdout.println();
    stdout.println("wrote " + report.csv() + ", " + report.markdown() + " and " + report.png());
    if (interrupted) {
      stdout.println("stopped; continue with: leviathan compare " + String.join(" ", commandLine(dir, true)));
      return Main.EXIT_INTERRUPTED;
    }
    List<CompareRow> failed = rows.stream().filter(r -> r.status().equals(CompareRow.FAILED)).toList();
    if (!failed.isEmpty()) {
      throw new IllegalStateException(failed.size() + " of " + rows.size() + " runs failed ("
          + String.join("; ", failed.stream().map(r -> CompareReport.runName(r.mixer(), r.seed()) + ": " + r.error())
              .toList()) + "); the finished runs are in " + dir);
    }
    return 0;
  }

  /** Trains, resumes or skips one (mixer, seed) run; a failure becomes a row, not an exception. */
  private CompareRow runOne(CompareReport report, RunSpec cfg, String mixer, long seed) {
    String label = mixer + " seed " + seed;
    Path runDir = report.runDir(mixer, seed);
    try {
      Checkpoints checkpoints = new RunDirectory(runDir).checkpoints();
      boolean hasLast = checkpoints.exists("last");
      if (hasLast) {
        long reached = checkpoints.read("last").step();
        if (reached >= cfg.schedule().steps()) {
          stdout.printf(Locale.ROOT, "[%s] finished earlier (step %d): skipped%n", label, reached);
          return finished(mixer, seed, runDir);
        }
      }
      RunMetadata launch = RunMetadata.launched("leviathan compare " + String.join(" ",
          commandLine(report.runDir(mixer, seed).getParent(), resume)), "cpu");
      Trainer.Result r = trainer.train(cfg, runDir, hasLast, new CompareListener(stdout, label), launch);
      if (r.interrupted()) {
        return new CompareRow(mixer, seed, r.step(), null, null, null, null, null, CompareRow.INTERRUPTED, "");
      }
      CompareRow row = finished(mixer, seed, runDir);
      stdout.printf(Locale.ROOT, "[%s] done: val loss %.4f (%.4f bpc), %,.0f tokens/s%n", label, row.valLoss(),
          row.valBpc(), row.tokensPerSec());
      return row;
    } catch (RuntimeException | OutOfMemoryError | StackOverflowError e) {
      String message = Reports.oneLine(e);
      stdout.printf(Locale.ROOT, "[%s] FAILED: %s%n", label, message);
      return CompareRow.failed(mixer, seed, message);
    }
  }

  /** The row of a finished run, read from its run directory. */
  private static CompareRow finished(String mixer, long seed, Path runDir) {
    RunDirectory run = new RunDirectory(runDir);
    List<TrainingListener.Evaluation> metrics = run.readMetrics();
    if (metrics.isEmpty()) {
      throw new IllegalStateException("run " + runDir + " has no rows in metrics.csv");
    }
    TrainingListener.Evaluation last = metrics.get(metrics.size() - 1);
    RunMetadata record = run.readMetadata();
    return new CompareRow(mixer, seed, last.step(), record == null ? null : record.parameters(), last.valLoss(),
        last.valBpc(), last.tokensPerSec(), last.elapsedSec(), CompareRow.OK, "");
  }

  /** The config of one run: the shared config with this mixer and seed. */
  private RunSpec configFor(Path base, String mixer, long seed) {
    return RunConfigs.resolve(base, mixer, data, steps, seed, allowNoncausal, sets, workingDir);
  }

  /** Unknown mixers, invalid options and non-causal mixers fail before anything is trained. */
  private void preflight(RunSpec cfg) {
    for (ResolvedLayer layer : cfg.resolve(registry).layers()) {
      if (!layer.tokenProvider().causal() && !allowNoncausal) {
        throw new ConfigException("the mixer " + layer.tokenMixer().name() + " is not causal, so its loss is not a"
            + " valid language-modelling loss (it can see the future); pass --allow-noncausal to compare it anyway");
      }
    }
  }

  private String settings(RunSpec cfg, Corpus corpus, List<Long> seedList) {
    return String.format(Locale.ROOT, "%s. Config %s; data %s; %d steps of batch %d x context %d; width %d,"
            + " layers %d, channel mixer %s; seeds %s. Command: `leviathan compare %s`.",
        LocalDate.now(), config == null ? "defaults" : config.toString(), corpus.name(), cfg.schedule().steps(),
        cfg.schedule().batch(), cfg.model().context(), cfg.model().width(), cfg.model().layers(),
        cfg.model().channelMixer().name(),
        String.join(", ", seedList.stream().map(String::valueOf).toList()),
        String.join(" ", commandLine(null, false)));
  }

  /** The arguments of this command, with {@code --out dir} and {@code --resume} as given. */
  private List<String> commandLine(Path dir, boolean withResume) {
    List<String> a = new ArrayList<>();
    a.add("--mixers " + String.join(",", mixers));
    if (config != null) a.add("--config " + config);
    if (data != null) a.add("--data " + data);
    if (steps != null) a.add("--steps " + steps);
    a.add("--seeds " + String.join(",", seeds.stream().map(String::valueOf).toList()));
    sets.forEach(s -> a.add("--set " + s));
    if (allowNoncausal) a.add("--allow-noncausal");
    if (dir != null) {
      a.add("--out " + dir);
    } else if (out != null) {
      a.add("--out " + out);
    }
    if (withResume) a.add("--resume");
    return a;
  }

  private <T> List<T> distinct(List<T> values, String option) {
    LinkedHashSet<T> set = new LinkedHashSet<>(values);
    if (set.isEmpty()) {
      throw new ParameterException(spec.commandLine(), option + " needs at least one value");
    }
    if (set.size() != values.size()) {
      throw new ParameterException(spec.commandLine(), option + " lists a value twice: " + values);
    }
    return List.copyOf(set);
  }
}
