package dev.leviathan.trainer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.leviathan.core.model.LanguageModel;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.registry.MixerRegistry;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.tensorflow.TensorFlow;

/**
 * The training loop: data, one-run steps, periodic evaluation, metrics, plots, checkpoints, resume and
 * sampling. Each call of {@link #train} runs one run directory to its configured number of steps, or
 * until {@link #requestStop()} (Ctrl-C), which writes a checkpoint first.
 */
public final class Trainer {
  /** Config keys that must match between a checkpoint and a resumed run. */
  static final Set<String> MODEL_KEYS = Set.of("data", "tokenizer", "val-fraction", "context", "width", "layers",
      "token-mixer", "token-mixer-options", "token-mixers", "channel-mixer", "channel-mixer-options", "norm",
      "position-embedding", "tie-embeddings");

  private final MixerRegistry registry;
  private final AtomicBoolean stop = new AtomicBoolean();

  /** The outcome of a run. */
  public record Result(long step, double valLoss, double valBpc, double tokensPerSec, boolean interrupted,
      String sample, Path runDir) {}

  public Trainer(MixerRegistry registry) {
    this.registry = registry;
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

  /** Loads the training text named by the config (null = bundled corpus). */
  public static Corpus corpus(TrainConfig cfg, Tokenizer tokenizer) {
    String text = cfg.data == null ? Corpus.bundledText() : Corpus.readText(Path.of(cfg.data), cfg.tokenizer);
    String name = cfg.data == null ? Corpus.BUNDLED : cfg.data;
    return Corpus.of(name, text, cfg.tokenizer, tokenizer, cfg.valFraction, cfg.context);
  }

  /**
   * Trains in {@code runDir}. With {@code resume}, {@code cfg} must agree with the stored config on
   * every model key; training continues from {@code checkpoints/last}.
   */
  public Result train(TrainConfig cfg, Path runDir, boolean resume, TrainingListener listener, Map<String, Object> runInfo) {
    try (TensorBoardListener tb = new TensorBoardListener()) {
      return run(cfg, runDir, resume, TrainingListeners.both(listener, tb), runInfo);
    }
  }

  private Result run(TrainConfig cfg, Path runDir, boolean resume, TrainingListener listener, Map<String, Object> runInfo) {
    RunDirectory run = new RunDirectory(runDir);
    Checkpoints checkpoints = run.checkpoints();
    CheckpointState state = null;
    Tokenizer tokenizer = null;
    if (resume) {
      state = checkpoints.read("last");
      TrainConfig stored = ConfigLoader.fromYaml(state.config());
      requireSameModel(stored, cfg);
      tokenizer = Tokenizer.of(state.tokenizer(), state.vocabulary());
      requireSameProviders(state);
    }
    Corpus corpus = corpus(cfg, tokenizer);
    ModelConfig modelConfig = cfg.modelConfig(corpus.tokenizer().vocabSize());
    long tokensPerStep = (long) cfg.batch * cfg.context;
    try (ModelRuntime rt = ModelRuntime.create(modelConfig, registry, cfg, true)) {
      LanguageModel model = rt.model();
      if (!model.causal()) {
        if (!cfg.allowNoncausal) {
          throw new ConfigException("the mixer stack " + cfg.mixerLabel() + " is not causal, so its loss is not a valid"
              + " language-modelling loss (it can see the future); pass --allow-noncausal to train it anyway");
        }
        listener.warn("non-causal mixer: the loss is not a valid language-modelling loss");
      }
      Batches trainBatches = new Batches(corpus.train(), cfg.context, cfg.batch, cfg.seed, 1);
      long startStep = 0;
      double best = Double.POSITIVE_INFINITY;
      List<TrainingListener.Evaluation> rows = new ArrayList<>();
      double elapsedBefore = 0;
      if (resume) {
        rt.restore(checkpoints.variablesPrefix("last"));
        startStep = state.step();
        best = state.bestValLoss();
        trainBatches.seek(state.trainBatches());
        for (TrainingListener.Evaluation e : run.readMetrics()) {
          if (e.step() <= startStep) {
            rows.add(e);
            elapsedBefore = e.elapsedSec();
          }
        }
        run.writeMetrics(rows);
      } else {
        rt.initialize(cfg.seed);
        run.write("config.yaml", ConfigLoader.toYaml(cfg));
        run.writeMetrics(rows);
      }
      Map<String, Object> info = new java.util.LinkedHashMap<>(runInfo);
      info.put("tensorflow", TensorFlow.version());
      info.put("seed", cfg.seed);
      info.put("parameters", rt.parameters().count());
      info.put("corpus", corpus.name());
      info.put("mixers", layerMixers(model));
      info.put(resume ? "resumed" : "started", Instant.now().toString());
      run.write("run.json", Json.pretty(resume ? mergeRunJson(run, info) : info));
      String device = String.valueOf(runInfo.getOrDefault("device", "cpu"));
      listener.started(new TrainingListener.Start(rt.parameters().count(), tokensPerStep, device, cfg.mixerLabel(),
          startStep, cfg.steps, runDir, resume));

      LearningRate schedule = cfg.schedule();
      Batches evalTrain = new Batches(corpus.train(), cfg.context, cfg.batch, cfg.seed, 2);
      Batches evalVal = validationBatches(cfg, corpus);
      long t0 = System.nanoTime();
      long stepNanos = 0;
      long stepsTimed = 0;
      double tokensPerSec = 0;
      long step = startStep;
      boolean interrupted = false;
      if (!resume) {
        TrainingListener.Evaluation e = evaluate(rt, cfg, evalTrain, evalVal, 0, schedule.at(0), 0, 0);
        rows.add(e);
        record(run, rows, cfg, listener, e, false);
      }
      TrainingListener.Evaluation last = rows.isEmpty() ? null : rows.get(rows.size() - 1);
      while (step < cfg.steps) {
        if (stop.get()) {
          interrupted = true;
          break;
        }
        int[][] batch = trainBatches.next();
        double lr = schedule.at(step);
        long s0 = System.nanoTime();
        ModelRuntime.StepResult r = rt.step(batch[0], batch[1], cfg.batch, step, lr, cfg.seed);
        stepNanos += System.nanoTime() - s0;
        if (!Double.isFinite(r.loss()) || !Double.isFinite(r.gradNorm())) {
          throw new DivergedException("training diverged at step " + (step + 1) + ": the loss is " + r.loss()
              + "; the last good checkpoint in " + checkpoints.root() + " is intact. Lower lr (--set lr=...) or"
              + " check the mixer's numerical stability, then --resume");
        }
        step++;
        stepsTimed++;
        double secs = (System.nanoTime() - t0) / 1e9;
        tokensPerSec = stepsTimed * tokensPerStep / Math.max(stepNanos / 1e9, 1e-9);
        listener.stepped(step, r.loss(), lr, tokensPerSec);
        listener.gradientNorm(step, r.gradNorm());
        boolean end = step == cfg.steps;
        if (step % cfg.evalInterval == 0 || end) {
          TrainingListener.Evaluation e = evaluate(rt, cfg, evalTrain, evalVal, step, lr, tokensPerSec, elapsedBefore + secs);
          rows.add(e);
          last = e;
          boolean improved = e.valLoss() < best;
          if (improved) {
            best = e.valLoss();
          }
          record(run, rows, cfg, listener, e, improved);
          if (improved) {
            saveCheckpoint(checkpoints, "best", rt, cfg, step, best, trainBatches, corpus, model, listener);
          }
        }
        if (step % cfg.checkpointInterval == 0 || end) {
          saveCheckpoint(checkpoints, "last", rt, cfg, step, best, trainBatches, corpus, model, listener);
        }
      }
      if (interrupted) {
        saveCheckpoint(checkpoints, "last", rt, cfg, step, best, trainBatches, corpus, model, listener);
      }
      String sample = "";
      if (cfg.sampleTokens > 0) {
        // The end-of-run sample may pass the position limit; that is expected, not worth a notice here.
        sample = new Sampler(rt, corpus.tokenizer()).notices(notice -> { })
            .sample("", cfg.sampleTokens, 0.8, 0, cfg.seed);
        run.appendSample("step " + step + ", temperature 0.8", sample);
        listener.sampled(step, sample);
      }
      listener.finished();
      double valLoss = last == null ? Double.NaN : last.valLoss();
      return new Result(step, valLoss, valLoss / Math.log(2), tokensPerSec, interrupted, sample, runDir);
    }
  }

  private void record(RunDirectory run, List<TrainingListener.Evaluation> rows, TrainConfig cfg,
      TrainingListener listener, TrainingListener.Evaluation e, boolean best) {
    run.writeMetrics(rows);
    run.drawLoss(rows, cfg.mixerLabel() + " — " + run.path().getFileName());
    listener.evaluated(e, best);
  }

  /** Mean loss over {@code eval-iters} fixed batches of the training and validation parts. */
  static TrainingListener.Evaluation evaluate(ModelRuntime rt, TrainConfig cfg, Batches train, Batches val, long step,
      double lr, double tokensPerSec, double elapsed) {
    double trainLoss = meanLoss(rt, cfg, train);
    double valLoss = meanLoss(rt, cfg, val);
    return new TrainingListener.Evaluation(step, trainLoss, valLoss, valLoss / Math.log(2), lr, tokensPerSec, elapsed);
  }

  /** Validation loss as {@code eval} computes it (same fixed batches as during training). */
  public static double validationLoss(ModelRuntime rt, TrainConfig cfg, Corpus corpus) {
    return meanLoss(rt, cfg, validationBatches(cfg, corpus));
  }

  /** The fixed validation batches every evaluation uses (so eval reproduces training's figures). */
  private static Batches validationBatches(TrainConfig cfg, Corpus corpus) {
    return new Batches(corpus.val(), cfg.context, cfg.batch, cfg.seed, 3);
  }

  private static double meanLoss(ModelRuntime rt, TrainConfig cfg, Batches batches) {
    batches.seek(0);
    double sum = 0;
    for (int i = 0; i < cfg.evalIters; i++) {
      int[][] b = batches.next();
      sum += rt.loss(b[0], b[1], cfg.batch);
    }
    return sum / cfg.evalIters;
  }

  private void saveCheckpoint(Checkpoints checkpoints, String name, ModelRuntime rt, TrainConfig cfg, long step,
      double best, Batches batches, Corpus corpus, LanguageModel model, TrainingListener listener) {
    CheckpointState s = new CheckpointState(CheckpointState.FORMAT, step, best, batches.position(),
        ConfigLoader.toYaml(cfg), corpus.tokenizer().kind(), corpus.tokenizer().vocabulary(), layerMixers(model),
        Versions.leviathan(), TensorFlow.version(), Instant.now().toString());
    Path p = checkpoints.save(name, rt, s);
    listener.checkpointed(name, p, step);
  }

  static List<CheckpointState.LayerMixer> layerMixers(LanguageModel model) {
    return model.layers().stream()
        .map(l -> new CheckpointState.LayerMixer(l.layer(), l.role(), l.mixer(), l.version(), l.source(), l.options().asText()))
        .toList();
  }

  /** Fails when a model-defining key differs between the checkpoint's config and the requested one. */
  static void requireSameModel(TrainConfig stored, TrainConfig requested) {
    JsonNode a = ConfigLoader.tree(stored);
    JsonNode b = ConfigLoader.tree(requested);
    List<String> diffs = new ArrayList<>();
    for (Iterator<String> it = a.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (MODEL_KEYS.contains(k) && !a.get(k).equals(b.get(k))) {
        diffs.add(k + ": checkpoint " + a.get(k) + ", requested " + b.get(k));
      }
    }
    if (!diffs.isEmpty()) {
      throw new CheckpointException("cannot resume: the checkpoint was trained with a different model or data ("
          + String.join("; ", diffs) + "); drop the conflicting options or start a new run with another --out");
    }
  }

  /** Fails when a provider that built the checkpoint is no longer available. */
  void requireSameProviders(CheckpointState state) {
    for (CheckpointState.LayerMixer m : state.mixers()) {
      boolean present = m.role().equals("token") ? registry.hasTokenMixer(m.mixer()) : registry.hasChannelMixer(m.mixer());
      if (!present) {
        throw new CheckpointException("the checkpoint needs the " + m.role() + " mixer '" + m.mixer() + "' (version "
            + m.version() + ", from " + m.source() + "), which is not installed; put its plugin jar into plugins/"
            + " or pass --plugins DIR");
      }
    }
  }

  /** A trained model opened from a run directory's checkpoint (for sample, eval, export). */
  public record LoadedRun(ModelRuntime runtime, TrainConfig config, Tokenizer tokenizer, CheckpointState state)
      implements AutoCloseable {
    @Override
    public void close() {
      runtime.close();
    }
  }

  /** Opens checkpoint {@code name} ({@code last} or {@code best}) of {@code runDir} for inference. */
  public LoadedRun open(Path runDir, String name) {
    if (!java.nio.file.Files.isDirectory(runDir)) {
      throw new CheckpointException("run directory " + runDir + " does not exist; pass the folder that train wrote"
          + " (runs/<timestamp>-<mixer>)");
    }
    Checkpoints checkpoints = new RunDirectory(runDir).checkpoints();
    CheckpointState state = checkpoints.read(name);
    TrainConfig cfg = ConfigLoader.fromYaml(state.config());
    requireSameProviders(state);
    Tokenizer tokenizer = Tokenizer.of(state.tokenizer(), state.vocabulary());
    ModelRuntime rt = ModelRuntime.create(cfg.modelConfig(tokenizer.vocabSize()), registry, cfg, false);
    try {
      rt.restore(checkpoints.variablesPrefix(name));
    } catch (RuntimeException e) {
      rt.close();
      throw new CheckpointException("checkpoint " + checkpoints.resolve(name) + " cannot be restored into this model ("
          + Errors.firstLine(e.getMessage()) + "); it was written by a different model");
    }
    return new LoadedRun(rt, cfg, tokenizer, state);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> mergeRunJson(RunDirectory run, Map<String, Object> info) {
    Map<String, Object> merged = new java.util.LinkedHashMap<>(Json.readMap(run.path().resolve("run.json")));
    List<Object> resumes = new ArrayList<>((List<Object>) merged.getOrDefault("resumes", List.of()));
    resumes.add(Map.of("at", info.get("resumed"), "command", String.valueOf(info.getOrDefault("command", ""))));
    merged.put("resumes", resumes);
    return merged;
  }
}
