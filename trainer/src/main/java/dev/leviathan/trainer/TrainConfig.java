package dev.leviathan.trainer;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.model.ModelConfig;
import dev.leviathan.core.model.NormKind;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything a training run is configured with: data, model shape and mixers, optimiser, schedule,
 * evaluation, checkpoints and threads. Read from YAML with {@link ConfigLoader}; keys are the
 * kebab-case names below. Defaults give the small tiny-Shakespeare model.
 */
@JsonPropertyOrder(alphabetic = false)
public final class TrainConfig {
  // ----- data -----
  /** Text file to train on; null = the bundled tiny Shakespeare. */
  @JsonProperty("data") public String data;
  /** char (vocabulary = sorted distinct characters) or byte (vocabulary 256). */
  @JsonProperty("tokenizer") public String tokenizer = "char";
  /** Fraction of the corpus (its end) held out for validation. */
  @JsonProperty("val-fraction") public double valFraction = 0.1;

  // ----- model -----
  @JsonProperty("context") public int context = 64;
  @JsonProperty("width") public int width = 128;
  @JsonProperty("layers") public int layers = 4;
  /** Token mixer of every layer (unless token-mixers lists one per layer). */
  @JsonProperty("token-mixer") public String tokenMixer = "attention";
  /** Options of the token mixer. */
  @JsonProperty("token-mixer-options") public Map<String, Object> tokenMixerOptions = new LinkedHashMap<>();
  /** Optional per-layer token mixers: names, or maps {name: ..., options: {...}}. */
  @JsonProperty("token-mixers") public List<Object> tokenMixers = new ArrayList<>();
  @JsonProperty("channel-mixer") public String channelMixer = "mlp";
  @JsonProperty("channel-mixer-options") public Map<String, Object> channelMixerOptions = new LinkedHashMap<>();
  /** layernorm or rmsnorm. */
  @JsonProperty("norm") public String norm = "layernorm";
  @JsonProperty("position-embedding") public boolean positionEmbedding = true;
  @JsonProperty("tie-embeddings") public boolean tieEmbeddings = true;
  @JsonProperty("dropout") public double dropout = 0.0;

  // ----- optimisation -----
  @JsonProperty("batch") public int batch = 12;
  @JsonProperty("steps") public int steps = 1000;
  @JsonProperty("lr") public double lr = 1e-3;
  @JsonProperty("min-lr") public double minLr = 1e-4;
  @JsonProperty("warmup") public int warmup = 100;
  /** Step at which the cosine decay reaches min-lr; 0 = steps. */
  @JsonProperty("decay-steps") public int decaySteps = 0;
  @JsonProperty("weight-decay") public double weightDecay = 0.1;
  @JsonProperty("beta1") public double beta1 = 0.9;
  @JsonProperty("beta2") public double beta2 = 0.99;
  @JsonProperty("eps") public double eps = 1e-8;
  @JsonProperty("grad-clip") public double gradClip = 1.0;

  // ----- evaluation, checkpoints, sampling -----
  @JsonProperty("eval-interval") public int evalInterval = 100;
  @JsonProperty("eval-iters") public int evalIters = 20;
  @JsonProperty("checkpoint-interval") public int checkpointInterval = 500;
  @JsonProperty("sample-tokens") public int sampleTokens = 200;
  @JsonProperty("seed") public long seed = 1337;
  /** Train a non-causal mixer anyway (the loss is then not a valid language-modelling loss). */
  @JsonProperty("allow-noncausal") public boolean allowNoncausal = false;

  // ----- runtime -----
  /** Threads inside one op; 0 = all cores. */
  @JsonProperty("intra-op-threads") public int intraOpThreads = 0;
  /** Ops run in parallel; 0 = all cores. */
  @JsonProperty("inter-op-threads") public int interOpThreads = 0;

  /** Checks value ranges that YAML types alone cannot; throws {@link ConfigException} naming the key. */
  public TrainConfig validate() {
    positive("context", context);
    positive("width", width);
    positive("layers", layers);
    positive("batch", batch);
    positive("steps", steps);
    positive("eval-interval", evalInterval);
    positive("eval-iters", evalIters);
    positive("checkpoint-interval", checkpointInterval);
    nonNegative("warmup", warmup);
    nonNegative("decay-steps", decaySteps);
    nonNegative("sample-tokens", sampleTokens);
    nonNegative("intra-op-threads", intraOpThreads);
    nonNegative("inter-op-threads", interOpThreads);
    if (!(lr > 0)) {
      throw new ConfigException("lr must be > 0, got " + lr);
    }
    if (!(minLr >= 0 && minLr <= lr)) {
      throw new ConfigException("min-lr must be between 0 and lr (" + lr + "), got " + minLr);
    }
    if (!(weightDecay >= 0)) {
      throw new ConfigException("weight-decay must be >= 0, got " + weightDecay);
    }
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
      throw new ConfigException("beta1 and beta2 must be in [0, 1), got " + beta1 + " and " + beta2);
    }
    if (!(eps > 0)) {
      throw new ConfigException("eps must be > 0, got " + eps);
    }
    if (!(gradClip >= 0)) {
      throw new ConfigException("grad-clip must be >= 0 (0 = off), got " + gradClip);
    }
    if (!(valFraction > 0 && valFraction < 1)) {
      throw new ConfigException("val-fraction must be between 0 and 1, got " + valFraction);
    }
    if (!tokenizer.equals("char") && !tokenizer.equals("byte")) {
      throw new ConfigException("tokenizer must be char or byte, got '" + tokenizer + "'");
    }
    if (!(dropout >= 0 && dropout < 1)) {
      throw new ConfigException("dropout must be in [0, 1), got " + dropout);
    }
    try {
      NormKind.parse(norm);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(e.getMessage());
    }
    tokenMixerSpecs();
    return this;
  }

  /** The learning-rate schedule. */
  public LearningRate schedule() {
    return new LearningRate(lr, minLr, warmup, decaySteps > 0 ? decaySteps : steps);
  }

  /** The model config for a corpus with {@code vocabSize} tokens. */
  public ModelConfig modelConfig(int vocabSize) {
    try {
      return ModelConfig.builder()
          .vocabSize(vocabSize)
          .context(context)
          .width(width)
          .layers(layers)
          .tokenMixers(tokenMixerSpecs())
          .channelMixer(MixerSpec.of(channelMixer, channelMixerOptions))
          .norm(NormKind.parse(norm))
          .positionEmbedding(positionEmbedding)
          .tieEmbeddings(tieEmbeddings)
          .dropout(dropout)
          .build();
    } catch (IllegalArgumentException e) {
      throw new ConfigException(e.getMessage());
    }
  }

  /** Token mixers per layer (one entry = all layers). */
  @SuppressWarnings("unchecked")
  public List<MixerSpec> tokenMixerSpecs() {
    if (tokenMixers == null || tokenMixers.isEmpty()) {
      return List.of(MixerSpec.of(tokenMixer, tokenMixerOptions));
    }
    List<MixerSpec> out = new ArrayList<>();
    for (Object o : tokenMixers) {
      if (o instanceof String s) {
        out.add(MixerSpec.of(s, s.equals(tokenMixer) ? tokenMixerOptions : Map.of()));
      } else if (o instanceof Map<?, ?> m && m.get("name") instanceof String name
          && (m.get("options") == null || m.get("options") instanceof Map)) {
        for (Object k : m.keySet()) {
          if (!k.equals("name") && !k.equals("options")) {
            throw new ConfigException("token-mixers entry has unknown key '" + k + "' (use name and options)");
          }
        }
        Map<String, Object> opts = m.get("options") == null ? Map.of() : (Map<String, Object>) m.get("options");
        out.add(MixerSpec.of(name, opts));
      } else {
        throw new ConfigException(
            "token-mixers entries must be mixer names or {name: NAME, options: {...}}, got " + o);
      }
    }
    return out;
  }

  /** Distinct token mixer names used by this config, for messages and run directory names. */
  public String mixerLabel() {
    List<String> names = tokenMixerSpecs().stream().map(MixerSpec::name).distinct().toList();
    return String.join("+", names);
  }

  private static void positive(String key, long v) {
    if (v < 1) {
      throw new ConfigException(key + " must be >= 1, got " + v);
    }
  }

  private static void nonNegative(String key, long v) {
    if (v < 0) {
      throw new ConfigException(key + " must be >= 0, got " + v);
    }
  }
}
