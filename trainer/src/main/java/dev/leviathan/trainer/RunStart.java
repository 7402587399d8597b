package dev.leviathan.trainer;

import dev.leviathan.core.registry.MixerRegistry;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.tensorflow.TensorFlow;

/**
 * Starts a run or picks it up again. Before a model exists, {@link #prepare} reads the checkpoint a
 * resumed run continues from ({@code last} unless another is chosen), requires the same model and data and the providers it was built with,
 * and loads the corpus (with the checkpoint's vocabulary). Once the model exists, {@link #begin} either
 * initialises it and writes the config, or restores the checkpoint, the data position, the best loss and
 * the metrics up to the checkpoint's step; the chief then writes the run record.
 */
final class RunStart {
  private final RunDirectory run;
  private final ResolvedRun resolved;
  private final Corpus corpus;
  private final CheckpointState checkpoint;
  private final Path checkpointDir;

  private RunStart(RunDirectory run, ResolvedRun resolved, Corpus corpus, CheckpointState checkpoint,
      Path checkpointDir) {
    this.run = run;
    this.checkpointDir = checkpointDir;
    this.resolved = resolved;
    this.corpus = corpus;
    this.checkpoint = checkpoint;
  }

  /** @param from the checkpoint folder to resume from, or null for a fresh start */
  static RunStart prepare(RunDirectory run, ResolvedRun resolved, Path from, MixerRegistry registry) {
    CheckpointState state = null;
    Tokenizer tokenizer = null;
    if (from != null) {
      state = Checkpoints.read(from);
      requireSameModel(ConfigLoader.fromYaml(state.config()), resolved.spec());
      tokenizer = Tokenizer.of(state.tokenizer(), state.vocabulary());
      requireProviders(state, registry);
    }
    return new RunStart(run, resolved, Corpus.load(resolved.spec().data(), resolved.spec().model().context(),
        tokenizer), state, from);
  }

  /** The step the run starts from: 0, or the checkpoint's. */
  long startStep() {
    return checkpoint == null ? 0 : checkpoint.step();
  }

  boolean resumed() {
    return checkpoint != null;
  }

  Corpus corpus() {
    return corpus;
  }

  /**
   * Brings a fresh runtime to the run's starting point; returns the progress to continue from.
   * {@code role} decides who writes, {@code shard} which share of each global batch this process trains
   * on (task {@code i} of {@code n} data-parallel workers; {@link TaskRole#SINGLE} for one process).
   */
  Progress begin(ModelRuntime runtime, TaskRole role, TaskRole shard, RunMetadata launch) {
    RunSpec spec = resolved.spec();
    ScheduleSpec schedule = spec.schedule();
    Progress p = new Progress(new Batches(corpus.train(), spec.model().context(), schedule.batch(), schedule.seed(), 1,
        shard.task(), shard.tasks()));
    String now = Instant.now().toString();
    if (resumed()) {
      runtime.restore(Checkpoints.variablesPrefix(checkpointDir));
      p.step = checkpoint.step();
      p.best = checkpoint.bestValLoss();
      p.trainBatches.seek(checkpoint.trainBatches());
      for (TrainingListener.Evaluation e : run.readMetrics()) {
        if (e.step() <= p.step) {
          p.rows.add(e);
          p.elapsedBefore = e.elapsedSec();
        }
      }
    } else {
      runtime.initialize(schedule.seed());
      if (role.chief()) {
        run.writeConfig(spec);
      }
    }
    if (role.chief()) {
      RunMetadata before = resumed() ? run.readMetadata() : null;
      RunMetadata record = before != null ? before.resumed(now, launch.command())
          : launch.started(TensorFlow.version(), schedule.seed(), runtime.parameters().count(), corpus.name(),
              CheckpointWriter.layerMixers(runtime.model()), now);
      run.writeMetadata(launch.cluster() != null ? record.withCluster(launch.cluster()) : record);
    }
    return p;
  }

  /** Fails when the model or data of the checkpoint's spec differ from the requested one. */
  static void requireSameModel(RunSpec stored, RunSpec requested) {
    List<String> diffs = ConfigLoader.modelDifferences(stored, requested);
    if (!diffs.isEmpty()) {
      throw new CheckpointException("cannot resume: the checkpoint was trained with a different model or data ("
          + String.join("; ", diffs) + "); drop the conflicting options or start a new run with another --out");
    }
  }

  /** Fails when a provider that built the checkpoint is no longer available. */
  static void requireProviders(CheckpointState state, MixerRegistry registry) {
    for (CheckpointState.LayerMixer m : state.mixers()) {
      boolean present = m.role().equals("token") ? registry.hasTokenMixer(m.mixer()) : registry.hasChannelMixer(m.mixer());
      if (!present) {
        throw new CheckpointException("the checkpoint needs the " + m.role() + " mixer '" + m.mixer() + "' (version "
            + m.version() + ", from " + m.source() + "), which is not installed; put its plugin jar into plugins/"
            + " or pass --plugins DIR");
      }
    }
  }

  /** The run directory's path (for messages). */
  Path path() {
    return run.path();
  }
}
