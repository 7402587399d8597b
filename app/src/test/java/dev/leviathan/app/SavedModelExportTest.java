package dev.leviathan.app;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.trainer.Corpus;
import dev.leviathan.trainer.Json;
import dev.leviathan.trainer.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.AssetFileDef;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * {@code export --format savedmodel} of a trained hybrid stack, loaded back with TensorFlow's own
 * {@link SavedModelBundle}: the {@code logits} signature reproduces, at every position of a batch of two
 * windows, the logits that the run's checkpoint gives through {@code ModelRuntime} (prefix by prefix).
 */
class SavedModelExportTest {
  @TempDir Path work;

  @ParameterizedTest
  @ValueSource(strings = {"[attention, aft-full]", "[aft-local, correlation]"})
  void theSavedModelReproducesTheRunsLogits(String mixers) throws Exception {
    Files.writeString(work.resolve("slice.txt"), Corpus.bundledText().substring(0, 30_000));
    Cli t = Cli.run(work, TrainCliTest.tiny("train", "--data", "slice.txt", "--out", "run", "--steps", "20",
        "--set", "token-mixers=" + mixers));
    assertEquals(0, t.code(), t.toString());

    Cli e = Cli.run(work, "export", "--run", "run", "--format", "savedmodel", "--out", "model");
    assertEquals(0, e.code(), e.toString());
    assertTrue(e.out().startsWith("wrote SavedModel "), e.out());
    Path model = work.resolve("model");
    for (String f : List.of("saved_model.pb", "variables/variables.index", "assets/vocab.json")) {
      assertTrue(Files.isRegularFile(model.resolve(f)), f);
    }
    try (Stream<Path> s = Files.list(work)) {
      assertEquals(List.of(), s.filter(p -> p.getFileName().toString().startsWith(".model.tmp")).toList());
    }

    try (Trainer.LoadedRun run = new Trainer(MixerRegistry.discover()).open(work.resolve("run"), "last");
        SavedModelBundle bundle = SavedModelBundle.load(model.toString(), "serve")) {
      int vocab = run.tokenizer().vocabSize();
      Map<String, Object> assets = Json.readMap(model.resolve("assets/vocab.json"));
      assertEquals("char", assets.get("tokenizer"));
      assertEquals(SavedModelExport.tokens(run.tokenizer()), assets.get("tokens"));
      assertEquals(run.tokenizer().vocabulary(), String.join("", SavedModelExport.tokens(run.tokenizer())));
      // portable: TensorFlow's own ops only, none of the fused kernels the training graph may use
      List<String> own = bundle.metaGraphDef().getGraphDef().getNodeList().stream().map(n -> n.getOp())
          .filter(op -> op.startsWith("Leviathan")).distinct().toList();
      assertEquals(List.of(), own, mixers);
      List<AssetFileDef> defs = bundle.metaGraphDef().getAssetFileDefList();
      assertEquals(1, defs.size());
      assertEquals("vocab.json", defs.get(0).getFilename());
      assertEquals("vocabulary_file:0", defs.get(0).getTensorInfo().getName());

      String text = Corpus.bundledText();
      for (int length : new int[] {32, 7}) {
        int[][] windows = {run.tokenizer().encode(text.substring(100, 100 + length)),
            run.tokenizer().encode(text.substring(5000, 5000 + length))};
        int[] flat = new int[2 * length];
        System.arraycopy(windows[0], 0, flat, 0, length);
        System.arraycopy(windows[1], 0, flat, length, length);
        float[] exported = new float[2 * length * vocab];
        try (TInt32 tokens = TInt32.tensorOf(Shape.of(2, length), DataBuffers.of(flat, true, false));
            org.tensorflow.Result r = bundle.function("logits").call(Map.of("tokens", tokens))) {
          Tensor out = r.get("logits").orElseThrow();
          assertEquals(Shape.of(2, length, vocab), out.shape());
          ((TFloat32) out).copyTo(DataBuffers.of(exported, false, false));
        }
        double worst = 0;
        for (int b = 0; b < 2; b++) {
          for (int p = 0; p < length; p++) {
            float[] expected = run.runtime().nextLogits(java.util.Arrays.copyOf(windows[b], p + 1));
            for (int v = 0; v < vocab; v++) {
              float x = exported[(b * length + p) * vocab + v];
              worst = Math.max(worst, Math.abs(x - expected[v]));
              assertEquals(expected[v], x, 1e-5, mixers + " window " + b + " position " + p + " token " + v);
            }
          }
        }
        System.out.printf("%s T=%d: largest |logit difference| %.2e%n", mixers, length, worst);
      }
    }

    Cli again = Cli.run(work, "export", "--run", "run", "--format", "savedmodel", "--out", "model");
    assertEquals(1, again.code(), again.toString());
    assertTrue(again.err().startsWith("error: --out ") && again.err().contains("already exists"), again.err());
    assertEquals(1, again.err().strip().lines().count(), again.err());
    Files.createDirectories(work.resolve("empty"));
    Cli intoEmpty = Cli.run(work, "export", "--run", "run", "--format", "savedmodel", "--out", "empty");
    assertEquals(0, intoEmpty.code(), intoEmpty.toString());
    assertArrayEquals(Files.readAllBytes(model.resolve("assets/vocab.json")),
        Files.readAllBytes(work.resolve("empty/assets/vocab.json")));
  }
}
