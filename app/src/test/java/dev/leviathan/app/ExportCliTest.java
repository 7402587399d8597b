package dev.leviathan.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.mml.TernaryPacking;
import dev.leviathan.trainer.Corpus;
import dev.leviathan.trainer.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Packed ternary export of a trained matmul-less model, loaded back: same logits as the quantised model. */
class ExportCliTest {
  @TempDir Path work;

  @Test
  void exportedTernaryWeightsReproduceTheQuantisedLogits() throws Exception {
    Files.writeString(work.resolve("slice.txt"), Corpus.bundledText().substring(0, 30_000));
    List<String> args = new ArrayList<>(List.of("train", "--config", Path.of("..", "configs", "mml.yaml").toAbsolutePath().toString(),
        "--data", "slice.txt", "--out", "run", "--steps", "20"));
    args.addAll(List.of(TrainCliTest.TINY));
    args.addAll(List.of("--set", "token-mixer-options.chunk=8"));
    Cli t = Cli.run(work, args.toArray(String[]::new));
    assertEquals(0, t.code(), t.toString());

    Cli e = Cli.run(work, "export", "--run", "run", "--format", "ternary", "--out", "model.lvtw");
    assertEquals(0, e.code(), e.toString());
    assertTrue(e.out().startsWith("wrote "), e.out());
    List<TernaryPacking.NamedTensor> tensors = TernaryPacking.read(work.resolve("model.lvtw"));
    long ternary = tensors.stream().filter(x -> x.kind() == TernaryPacking.Kind.TERNARY).count();
    assertEquals(2 * (4 + 3), ternary, "4 BitLinear weights per mlgru and 3 per glu-mml, 2 layers");
    for (TernaryPacking.NamedTensor x : tensors) {
      if (x.kind() == TernaryPacking.Kind.TERNARY) {
        for (float v : x.values()) {
          assertTrue(v == 0f || Math.abs(Math.abs(v) - x.scale()) == 0f, x.name() + " holds " + v);
        }
      }
    }

    try (Trainer.LoadedRun run = new Trainer(MixerRegistry.discover()).open(work.resolve("run"), "last")) {
      int[] prompt = run.tokenizer().encode("ROMEO: What say");
      float[] expected = run.runtime().nextLogits(prompt);
      Map<String, float[]> latent = TernaryPacking.latentValues(tensors);
      run.runtime().parameters().set(run.runtime().session(), latent);
      float[] actual = run.runtime().nextLogits(prompt);
      for (int i = 0; i < expected.length; i++) {
        assertEquals(expected[i], actual[i], 1e-4 * (1 + Math.abs(expected[i])), "logit " + i);
      }
    }
    Cli bad = Cli.run(work, "export", "--run", "run", "--format", "int4", "--out", "x.bin");
    assertEquals(1, bad.code());
    assertTrue(bad.err().startsWith("error: unknown export format 'int4'"), bad.err());
    assertTrue(!Files.exists(work.resolve("x.bin")));
  }
}
