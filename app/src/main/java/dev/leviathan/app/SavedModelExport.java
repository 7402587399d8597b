package dev.leviathan.app;

import dev.leviathan.core.model.LanguageModel;
import dev.leviathan.core.model.ParameterStore;
import dev.leviathan.core.model.ResolvedModel;
import dev.leviathan.trainer.RunDirectory;
import dev.leviathan.trainer.Tokenizer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.AssetFileDef;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.MetaGraphDef;
import org.tensorflow.proto.SavedModel;
import org.tensorflow.proto.TensorInfo;
import org.tensorflow.proto.TensorShapeProto;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * A trained run as a TensorFlow SavedModel (tag {@code serve}): an inference-only graph of the model
 * (no optimiser, dropout off) whose variables are restored from the run's checkpoint and saved by
 * TensorFlow's exporter under {@code variables/}. Signature {@value #SIGNATURE} (also
 * {@code serving_default}) maps int32 {@code tokens [B, T]} (T at most the training context when the
 * model has a learned position embedding) to float32 {@code logits [B, T, V]}. The vocabulary is the
 * asset {@code assets/}{@value #VOCABULARY} (JSON: tokenizer kind and the token strings, id = index),
 * registered in the MetaGraph's {@code asset_file_def} against the string constant
 * {@code vocabulary_file}, which TensorFlow's loaders set to the asset's absolute path.
 * When every token mixer has a step function, {@link GenerationSignatures} adds {@code prefill} and
 * {@code step} (cached generation with the mixers' states as tensors); otherwise the export says why not.
 */
final class SavedModelExport {
  static final String SIGNATURE = "logits";
  static final String VOCABULARY = "vocab.json";
  static final String VOCABULARY_TENSOR = "vocabulary_file";

  private SavedModelExport() {}

  /** {@code export --format savedmodel}: checkpoint {@code name} of {@code runDir} into the new folder {@code out}. */
  static int run(dev.leviathan.trainer.Trainer trainer, Path runDir, String name, Path out,
      java.io.PrintStream stdout) {
    requireFree(out);
    try (dev.leviathan.trainer.Trainer.LoadedRun loaded = trainer.open(runDir, name)) {
      String prefix = new RunDirectory(runDir).checkpoints().variablesPrefix(name);
      Exported exported = export(loaded.resolved().model(loaded.tokenizer().vocabSize()), loaded.tokenizer(), prefix, out);
      int v = loaded.tokenizer().vocabSize();
      stdout.printf(java.util.Locale.ROOT, "wrote SavedModel %s: signature '%s' (int32 tokens [B, T] -> float32 logits"
              + " [B, T, %d]), %d variables from checkpoint %s (step %d), vocabulary in assets/%s%n", out, SIGNATURE,
          v, exported.variables(), name, loaded.state().step(), VOCABULARY);
      GenerationSignatures.Built g = exported.generation();
      if (g.missing() != null) {
        stdout.println(g.missing());
      } else {
        long limit = g.positionLimit();
        String states = g.states() == 1 ? "state_0" : "state_0..state_" + (g.states() - 1);
        stdout.printf(java.util.Locale.ROOT, "signatures '%s' (int32 tokens [B, P] -> float32 logits [B, %d], %s) and"
                + " '%s' (int32 token [B], int32 position, %s -> float32 logits [B, %d], %s), %s%n",
            GenerationSignatures.PREFILL, v, states, GenerationSignatures.STEP, states, v, states,
            limit == Long.MAX_VALUE ? "no position limit" : "positions below " + limit);
      }
    }
    return 0;
  }

  /** Fails with one line when {@code out} exists and is not an empty folder. */
  static void requireFree(Path out) {
    if (!Files.exists(out)) {
      return;
    }
    boolean empty;
    try (Stream<Path> s = Files.isDirectory(out) ? Files.list(out) : Stream.of(out)) {
      empty = Files.isDirectory(out) && s.findAny().isEmpty();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (!empty) {
      throw new IllegalArgumentException("--out " + out + " already exists and is not an empty folder; choose a new"
          + " folder (the SavedModel is written there as a whole)");
    }
  }

  /** What {@link #export} wrote: the number of variables and the generation signatures (or why there are none). */
  record Exported(int variables, GenerationSignatures.Built generation) {}

  /**
   * Writes the SavedModel of the checkpoint at {@code variablesPrefix} into {@code out}: built in a
   * sibling temporary folder, then renamed into place.
   */
  static Exported export(ResolvedModel resolved, Tokenizer tokenizer, String variablesPrefix, Path out) {
    requireFree(out);
    Path parent = out.toAbsolutePath().getParent();
    Path tmp = parent.resolve("." + out.getFileName() + ".tmp-" + UUID.randomUUID().toString().substring(0, 8));
    int variables;
    GenerationSignatures.Built generation;
    try {
      Files.createDirectories(parent);
      try (Graph graph = new Graph()) {
        Ops tf = Ops.create(graph);
        ParameterStore params = new ParameterStore(resolved.config().layers());
        LanguageModel model = new LanguageModel(tf, resolved, params, true); // portable: TensorFlow's own ops only
        variables = params.all().size();
        List<Signature> signatures = new ArrayList<>(signatures(tf, model));
        generation = GenerationSignatures.build(tf, model);
        signatures.addAll(generation.signatures());
        Operand<?> vocabularyFile = tf.withName(VOCABULARY_TENSOR).constant(VOCABULARY);
        try (Session session = new Session(graph)) {
          session.restore(variablesPrefix);
          SavedModelBundle.Exporter exporter = SavedModelBundle.exporter(tmp.toString()).withSession(session);
          signatures.forEach(exporter::withSignature);
          exporter.export();
        }
        addVocabularyAsset(tmp, vocabularyFile.op().name(), tokenizer);
      }
      if (Files.exists(out)) {
        Files.delete(out); // an empty folder (checked above)
      }
      Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      deleteTree(tmp);
      throw new UncheckedIOException("cannot write the SavedModel to " + out + ": " + e.getMessage(), e);
    } catch (RuntimeException e) {
      deleteTree(tmp);
      throw e;
    }
    return new Exported(variables, generation);
  }

  /**
   * The exported signatures, built into the export graph: {@value #SIGNATURE} (logits at every position)
   * and the same as {@code serving_default}. The generation signatures are added by {@link #export}.
   */
  static List<Signature> signatures(Ops tf, LanguageModel model) {
    Placeholder<TInt32> tokens = tf.withName("tokens").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, -1)));
    Operand<TFloat32> logits = tf.withName("logits").identity(model.logits(tokens));
    List<Signature> out = new ArrayList<>();
    for (String key : List.of(SIGNATURE, Signature.DEFAULT_KEY)) {
      out.add(Signature.builder(key).input("tokens", tokens).output("logits", logits).build());
    }
    return out;
  }

  /** Writes {@code assets/vocab.json} and lists it in the MetaGraph's {@code asset_file_def}. */
  private static void addVocabularyAsset(Path dir, String tensor, Tokenizer tokenizer) throws IOException {
    Path assets = Files.createDirectories(dir.resolve("assets"));
    Map<String, Object> vocab = new LinkedHashMap<>();
    vocab.put("tokenizer", tokenizer.kind());
    vocab.put("tokens", tokens(tokenizer));
    Files.writeString(assets.resolve(VOCABULARY), dev.leviathan.trainer.Json.pretty(vocab));
    Path pb = dir.resolve("saved_model.pb");
    SavedModel.Builder model = SavedModel.parseFrom(Files.readAllBytes(pb)).toBuilder();
    MetaGraphDef.Builder meta = model.getMetaGraphsBuilder(0);
    meta.addAssetFileDef(AssetFileDef.newBuilder().setFilename(VOCABULARY).setTensorInfo(TensorInfo.newBuilder()
        .setName(tensor + ":0").setDtype(DataType.DT_STRING).setTensorShape(TensorShapeProto.getDefaultInstance())));
    try (OutputStream o = Files.newOutputStream(pb)) {
      model.build().writeTo(o);
    }
  }

  /**
   * Token strings by id: each character of a char vocabulary; for the byte tokenizer the 256 byte
   * values as the characters U+0000..U+00FF.
   */
  static List<String> tokens(Tokenizer tokenizer) {
    List<String> out = new ArrayList<>();
    if (tokenizer.kind().equals("byte")) {
      for (int b = 0; b < 256; b++) {
        out.add(String.valueOf((char) b));
      }
    } else {
      tokenizer.vocabulary().chars().forEach(c -> out.add(String.valueOf((char) c)));
    }
    return out;
  }

  private static void deleteTree(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // best effort: a leftover hidden temporary folder is harmless
    }
  }
}
