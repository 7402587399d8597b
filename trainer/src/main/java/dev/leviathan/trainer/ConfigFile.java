package dev.leviathan.trainer;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.model.NormKind;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The keys of a config file ({@code config.yaml}, {@code --config}, {@code --set}) as Jackson binds them:
 * the flat, kebab-case file format of a {@link RunSpec}. Defaults give the small tiny-Shakespeare model.
 * Only {@link ConfigLoader} uses it; everything else works with the {@link RunSpec} it becomes.
 */
@JsonPropertyOrder(alphabetic = false)
final class ConfigFile {
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
  /** TensorFlow's idle threads spin before they sleep. */
  @JsonProperty("thread-spinning") public boolean threadSpinning = false;

  /** The spec these keys describe; each part checks its ranges and names the key that is wrong. */
  @SuppressWarnings("unchecked")
  RunSpec toSpec() {
    NormKind normKind;
    try {
      normKind = NormKind.parse(norm);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(e.getMessage());
    }
    MixerSpec defaultMixer = MixerSpec.of(tokenMixer, tokenMixerOptions);
    List<MixerSpec> perLayer = new ArrayList<>();
    for (Object o : tokenMixers == null ? List.of() : tokenMixers) {
      if (o instanceof String s) {
        perLayer.add(s.equals(tokenMixer) ? defaultMixer : MixerSpec.of(s));
      } else if (o instanceof Map<?, ?> m && m.get("name") instanceof String name
          && (m.get("options") == null || m.get("options") instanceof Map)) {
        for (Object k : m.keySet()) {
          if (!k.equals("name") && !k.equals("options")) {
            throw new ConfigException("token-mixers entry has unknown key '" + k + "' (use name and options)");
          }
        }
        Map<String, Object> opts = m.get("options") == null ? Map.of() : (Map<String, Object>) m.get("options");
        perLayer.add(MixerSpec.of(name, opts));
      } else {
        throw new ConfigException(
            "token-mixers entries must be mixer names or {name: NAME, options: {...}}, got " + o);
      }
    }
    ModelSpec model = new ModelSpec(context, width, layers, defaultMixer, perLayer,
        MixerSpec.of(channelMixer, channelMixerOptions), normKind, positionEmbedding, tieEmbeddings, dropout);
    DataSpec dataSpec = new DataSpec(data, tokenizer, valFraction);
    OptimizerSpec optimizer = new OptimizerSpec(lr, minLr, warmup, decaySteps, weightDecay, beta1, beta2, eps, gradClip);
    ScheduleSpec schedule = new ScheduleSpec(batch, steps, evalInterval, evalIters, checkpointInterval, sampleTokens,
        seed, allowNoncausal);
    RuntimeSpec runtime = new RuntimeSpec(intraOpThreads, interOpThreads, threadSpinning, Devices.Choice.AUTO);
    return new RunSpec(model, dataSpec, optimizer, schedule, runtime);
  }

  /** The keys of {@code spec}, as written to {@code config.yaml}. */
  static ConfigFile of(RunSpec spec) {
    ConfigFile f = new ConfigFile();
    f.data = spec.data().file();
    f.tokenizer = spec.data().tokenizer();
    f.valFraction = spec.data().valFraction();
    ModelSpec m = spec.model();
    f.context = m.context();
    f.width = m.width();
    f.layers = m.layers();
    f.tokenMixer = m.tokenMixer().name();
    f.tokenMixerOptions = new LinkedHashMap<>(m.tokenMixer().options());
    f.tokenMixers = new ArrayList<>();
    for (MixerSpec s : m.tokenMixers()) {
      boolean plain = s.name().equals(m.tokenMixer().name()) ? s.equals(m.tokenMixer()) : s.options().isEmpty();
      f.tokenMixers.add(plain ? s.name() : entry(s));
    }
    f.channelMixer = m.channelMixer().name();
    f.channelMixerOptions = new LinkedHashMap<>(m.channelMixer().options());
    f.norm = m.norm().configName();
    f.positionEmbedding = m.positionEmbedding();
    f.tieEmbeddings = m.tieEmbeddings();
    f.dropout = m.dropout();
    ScheduleSpec s = spec.schedule();
    f.batch = s.batch();
    f.steps = s.steps();
    OptimizerSpec o = spec.optimizer();
    f.lr = o.lr();
    f.minLr = o.minLr();
    f.warmup = o.warmup();
    f.decaySteps = o.decaySteps();
    f.weightDecay = o.weightDecay();
    f.beta1 = o.beta1();
    f.beta2 = o.beta2();
    f.eps = o.eps();
    f.gradClip = o.gradClip();
    f.evalInterval = s.evalInterval();
    f.evalIters = s.evalIters();
    f.checkpointInterval = s.checkpointInterval();
    f.sampleTokens = s.sampleTokens();
    f.seed = s.seed();
    f.allowNoncausal = s.allowNoncausal();
    f.intraOpThreads = spec.runtime().intraOpThreads();
    f.interOpThreads = spec.runtime().interOpThreads();
    f.threadSpinning = spec.runtime().threadSpinning();
    return f;
  }

  private static Map<String, Object> entry(MixerSpec s) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", s.name());
    m.put("options", new LinkedHashMap<>(s.options()));
    return m;
  }
}
