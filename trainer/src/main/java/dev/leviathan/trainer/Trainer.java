package dev.leviathan.trainer;

import dev.leviathan.core.model.ResolvedModel;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.trainer.cluster.ClusterFailure;
import dev.leviathan.trainer.cluster.ClusterSpec;
import dev.leviathan.trainer.cluster.ClusterTraining;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Trains and opens runs. {@link #train} puts the parts of a run together, each with one job:
 * {@link RunStart} (start or resume), {@link StepExecutor} (a step), {@link Evaluator} (evaluation),
 * {@link CheckpointWriter} (checkpoints), {@link RunFiles}, {@link TensorBoardListener} and the caller's
 * {@link TrainingListener} (reporting), driven by {@link TrainingRun}. Each call runs one run directory to its configured number
 * of steps, or until {@link #requestStop()} (Ctrl-C), which writes a checkpoint first.
 */
public final class Trainer {
  private final MixerRegistry registry;
  private final TaskRole role;
  private final AtomicBoolean stop = new AtomicBoolean();

  /** The outcome of a run. */
  public record Result(long step, double valLoss, double valBpc, double tokensPerSec, boolean interrupted,
      String sample, Path runDir) {}

  public Trainer(MixerRegistry registry) {
    this(registry, TaskRole.SINGLE);
  }

  /** A trainer for task {@code role} of a run; only the chief writes the run directory. */
  public Trainer(MixerRegistry registry, TaskRole role) {
    this.registry = registry;
    this.role = role;
  }

  /** Asks a running {@link #train} to checkpoint and return at the next step boundary. */
  public void requestStop() {
    stop.set(true);
  }

  /** Thrown when a step produces a non-finite loss. */
  public static final class DivergedException extends IllegalStateException {
    public DivergedException(String message) {
      super(message);
    }
  }

  /** {@link #train(ResolvedRun, Path, boolean, TrainingListener, RunMetadata)} after resolving {@code spec}. */
  public Result train(RunSpec spec, Path runDir, boolean resume, TrainingListener listener, RunMetadata launch) {
    return train(spec.resolve(registry), runDir, resume, listener, launch);
  }

  /**
   * Trains in {@code runDir}. With {@code resume}, the spec must describe the checkpoint's model and data;
   * training continues from {@code checkpoints/last}.
   */
  public Result train(ResolvedRun resolved, Path runDir, boolean resume, TrainingListener listener,
      RunMetadata launch) {
    return train(resolved, runDir, resume ? "last" : null, listener, launch);
  }

  /**
   * Trains in {@code runDir}, resuming from {@code checkpoint} ({@code last}, {@code best} or the path of a
   * checkpoint folder) unless it is null. The chief holds the run directory's lock for the whole call and
   * a start that fails leaves nothing behind ({@link RunGuard}).
   */
  public Result train(ResolvedRun resolved, Path runDir, String checkpoint, TrainingListener listener,
      RunMetadata launch) {
    ClusterSpec cluster = resolved.spec().runtime().cluster();
    if (!(cluster == null ? role.chief() : cluster.isChief())) {
      return run(resolved, runDir, checkpoint, listener, launch);
    }
    boolean own = checkpoint == null || Checkpoints.NAMES.contains(checkpoint);
    try (RunGuard guard = RunGuard.enter(runDir, checkpoint != null, own,
        launch == null || launch.command() == null ? "leviathan train" : launch.command(), listener::note);
        TensorBoardListener tb = new TensorBoardListener()) {
      return run(resolved, runDir, guard.resume() ? checkpoint : null,
          TrainingListeners.both(guard, TrainingListeners.both(listener, tb)), launch);
    }
  }

  private Result run(ResolvedRun resolved, Path runDir, String checkpoint, TrainingListener listener,
      RunMetadata launch) {
    RunSpec spec = resolved.spec();
    RunDirectory run = new RunDirectory(runDir);
    Path from = null;
    if (checkpoint != null) {
      from = run.checkpoints().locate(checkpoint, Path.of(""));
      listener.note("resuming from " + Checkpoints.describe(from));
    }
    RunStart start = RunStart.prepare(run, resolved, from, registry);
    ResolvedModel model = resolved.model(start.corpus().tokenizer().vocabSize());
    MemoryEstimate.of(model.config(), spec.schedule().batch()).requireFits(MemoryEstimate.physicalMemory(),
        spec.schedule().batch(), model.config());
    Corpus corpus = start.corpus();
    ClusterSpec clusterSpec = spec.runtime().cluster();
    if (clusterSpec == null) {
      try (ModelRuntime rt = ModelRuntime.create(resolved.model(corpus.tokenizer().vocabSize()), spec, true)) {
        return run(resolved, run, start, rt, null, role, TaskRole.SINGLE, stop, listener, launch);
      }
    }
    TaskRole task = new TaskRole(clusterSpec.task(), clusterSpec.size());
    ClusterTraining cluster = ClusterTraining.start(clusterSpec, ModelRuntime.sessionConfig(spec.runtime()),
        ClusterFacts.of(resolved, registry, start.startStep()), spec.runtime().collectiveTimeoutSeconds());
    ModelRuntime rt = ModelRuntime.create(resolved.model(corpus.tokenizer().vocabSize()), spec, true, cluster);
    try {
      Result r = run(resolved, run, start, rt, cluster, task, task, new AtomicBoolean(), listener, launch);
      cluster.finish(r.step(), ClusterTraining.digest(rt.parameters().read(rt.session())));
      rt.close();
      cluster.close();
      return r;
    } catch (ClusterFailure f) {
      // a step may still be blocked in native code: the session cannot be closed, the process must exit
      throw new IllegalStateException(f.getMessage() + "; last checkpoint: " + run.checkpoints().root()
          + "; restart all workers with --resume", f);
    }
  }

  /**
   * One run on a built runtime: {@code task} decides who writes, {@code shard} which share of each global
   * batch this process trains on (the same as {@code task} in a data-parallel run, else {@link TaskRole#SINGLE}).
   */
  private Result run(ResolvedRun resolved, RunDirectory run, RunStart start, ModelRuntime rt, ClusterTraining cluster,
      TaskRole task, TaskRole shard, AtomicBoolean agreedStop, TrainingListener listener, RunMetadata launch) {
    RunSpec spec = resolved.spec();
    Corpus corpus = start.corpus();
    boolean resume = start.resumed();
    if (!resolved.causal()) {
      if (!spec.schedule().allowNoncausal()) {
        throw new ConfigException("the mixer stack " + spec.model().mixerLabel() + " is not causal, so its loss is"
            + " not a valid language-modelling loss (it can see the future); pass --allow-noncausal to train it"
            + " anyway");
      }
      listener.warn("non-causal mixer: the loss is not a valid language-modelling loss");
    }
    Progress progress = start.begin(rt, task, shard, launch);
    TrainingListener report = task.chief()
        ? TrainingListeners.both(new RunFiles(run, progress.rows, spec.model().mixerLabel()), listener)
        : listener;
    report.started(new TrainingListener.Start(rt.parameters().count(),
        (long) spec.schedule().batch() * shard.tasks() * spec.model().context(), launch.deviceOrCpu(),
        spec.model().mixerLabel(), progress.step, spec.schedule().steps(), run.path(), resume));
    StepExecutor executor = cluster == null ? StepExecutor.local(rt, spec.schedule())
        : StepExecutor.dataParallel(rt, spec.schedule(), cluster, task, stop, agreedStop);
    TrainingRun loop = new TrainingRun(spec, progress, executor, new Evaluator(rt, spec, corpus, shard.tasks()),
        new CheckpointWriter(run.checkpoints(), rt, spec, corpus.tokenizer()), task, shard.tasks(), report,
        run.checkpoints().root());
    if (!resume) {
      loop.evaluateStart(spec.learningRate().at(0));
    }
    TrainingRun.Outcome outcome = loop.run(agreedStop);
    String sample = "";
    if (spec.schedule().sampleTokens() > 0) {
      sample = closingSample(resolved, corpus.tokenizer(), rt, cluster);
      if (task.chief()) {
        run.appendSample("step " + progress.step + ", temperature 0.8", sample);
      }
      report.sampled(progress.step, sample);
    }
    report.finished();
    TrainingListener.Evaluation last = progress.last();
    double valLoss = last == null ? Double.NaN : last.valLoss();
    return new Result(progress.step, valLoss, valLoss / Math.log(2), outcome.tokensPerSec(), outcome.interrupted(),
        sample, run.path());
  }

  /**
   * The end-of-run sample. In one process it is drawn after the training graph is closed, from an inference
   * runtime given the final parameters: the graphs that generation adds (and TensorFlow's memory for them) then
   * take the place of the training graph's instead of adding to the run's peak memory. A worker of a cluster
   * keeps its runtime, which the run's closing agreement still reads. Either way the text is the one the final
   * parameters give; it may pass the position limit, which is expected here and not worth a notice.
   */
  private String closingSample(ResolvedRun resolved, Tokenizer tokenizer, ModelRuntime rt, ClusterTraining cluster) {
    if (cluster != null) {
      return closingSample(resolved.spec().schedule(), tokenizer, rt);
    }
    Map<String, float[]> last = rt.parameters().read(rt.session());
    rt.close();
    try (ModelRuntime inference = ModelRuntime.create(resolved.model(tokenizer.vocabSize()), resolved.spec(), false)) {
      inference.parameters().set(inference.session(), last);
      return closingSample(resolved.spec().schedule(), tokenizer, inference);
    }
  }

  private static String closingSample(ScheduleSpec schedule, Tokenizer tokenizer, ModelRuntime runtime) {
    return new Sampler(runtime, tokenizer).notices(notice -> { }).sample("", schedule.sampleTokens(), 0.8, 0,
        schedule.seed());
  }

  /** A trained model opened from a run directory's checkpoint (for sample, eval, export). */
  public record LoadedRun(ModelRuntime runtime, ResolvedRun resolved, Tokenizer tokenizer, CheckpointState state)
      implements AutoCloseable {
    public RunSpec spec() {
      return resolved.spec();
    }

    @Override
    public void close() {
      runtime.close();
    }
  }

  /** Opens checkpoint {@code name} ({@code last} or {@code best}) of {@code runDir} for inference. */
  public LoadedRun open(Path runDir, String name) {
    if (!Files.isDirectory(runDir)) {
      throw new CheckpointException("run directory " + runDir + " does not exist; pass the folder that train wrote"
          + " (runs/<timestamp>-<mixer>)");
    }
    Checkpoints checkpoints = new RunDirectory(runDir).checkpoints();
    CheckpointState state = checkpoints.read(name);
    RunSpec spec = ConfigLoader.fromYaml(state.config());
    RunStart.requireProviders(state, registry);
    Tokenizer tokenizer = Tokenizer.of(state.tokenizer(), state.vocabulary());
    ResolvedRun resolved = spec.resolve(registry);
    ModelRuntime rt = ModelRuntime.create(resolved.model(tokenizer.vocabSize()), spec, false);
    try {
      rt.restore(checkpoints.variablesPrefix(name));
    } catch (RuntimeException e) {
      rt.close();
      throw new CheckpointException("checkpoint " + checkpoints.resolve(name) + " cannot be restored into this model ("
          + Errors.firstLine(e.getMessage()) + "); it was written by a different model");
    }
    return new LoadedRun(rt, resolved, tokenizer, state);
  }
}
