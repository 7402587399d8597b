package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.registry.MixerRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The end-of-run sample is drawn from an inference runtime given the final parameters once the training graph
 * is closed: it must be the text that the run's last checkpoint gives with the same seed and temperature,
 * through cached generation and, past the position limit, through recompute.
 */
class ClosingSampleTest {
  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"attention, attention", "{name: aft-local, options: {window: 4}}, mlgru"})
  void theClosingSampleIsWhatTheLastCheckpointGives(String mixers) throws Exception {
    Path data = dir.resolve("data.txt");
    Files.writeString(data, Corpus.bundledText().substring(0, 20_000));
    int tokens = 30;
    RunSpec spec = ConfigLoader.load(null, List.of("data=" + data, "token-mixers=[" + mixers + "]", "context=8", "width=8",
        "layers=2", "batch=2", "steps=6", "warmup=1", "eval-interval=3", "eval-iters=2", "checkpoint-interval=3",
        "sample-tokens=" + tokens, "intra-op-threads=1", "inter-op-threads=1"));
    MixerRegistry registry = MixerRegistry.discover();
    Trainer trainer = new Trainer(registry);
    Path run = dir.resolve("run");
    Trainer.Result result = trainer.train(spec, run, false, TrainingListener.NONE, RunMetadata.launched("test", "cpu"));
    assertEquals(6, result.step());
    try (Trainer.LoadedRun last = trainer.open(run, "last")) {
      String expected = new Sampler(last.runtime(), last.tokenizer()).notices(notice -> { })
          .sample("", tokens, 0.8, 0, spec.schedule().seed());
      assertEquals(expected, result.sample());
    }
    assertTrue(Files.readString(new RunDirectory(run).path().resolve("samples.txt")).contains(result.sample()),
        "the sample is written to the run directory");
  }
}
