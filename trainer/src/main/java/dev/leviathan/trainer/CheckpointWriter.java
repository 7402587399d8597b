package dev.leviathan.trainer;

import dev.leviathan.core.model.LanguageModel;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.tensorflow.TensorFlow;

/** Writes the {@code last} and {@code best} checkpoints of a run: variables plus {@link CheckpointState}. */
final class CheckpointWriter {
  private final Checkpoints checkpoints;
  private final ModelRuntime runtime;
  private final String config;
  private final Tokenizer tokenizer;
  private final List<CheckpointState.LayerMixer> mixers;

  CheckpointWriter(Checkpoints checkpoints, ModelRuntime runtime, RunSpec spec, Tokenizer tokenizer) {
    this.checkpoints = checkpoints;
    this.runtime = runtime;
    this.config = ConfigLoader.toYaml(spec);
    this.tokenizer = tokenizer;
    this.mixers = layerMixers(runtime.model());
  }

  /** Saves checkpoint {@code name} at the progress's step and data position; returns its folder. */
  Path save(String name, Progress progress) {
    Divergence.requireFinite(runtime, checkpoints, progress.step, name);
    CheckpointState s = new CheckpointState(CheckpointState.FORMAT, progress.step, progress.best,
        progress.trainBatches.position(), config, tokenizer.kind(), tokenizer.vocabulary(), mixers,
        Versions.leviathan(), TensorFlow.version(), Instant.now().toString());
    return checkpoints.save(name, runtime, s);
  }

  static List<CheckpointState.LayerMixer> layerMixers(LanguageModel model) {
    return model.layers().stream()
        .map(l -> new CheckpointState.LayerMixer(l.layer(), l.role(), l.mixer(), l.version(), l.source(), l.options().asText()))
        .toList();
  }
}
