package dev.leviathan.trainer;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Autoregressive sampling: scale the next-token logits by {@code 1 / temperature}, keep the
 * {@code topK} largest (0 = all), sample from the softmax.
 *
 * <p>The logits come from cached generation ({@link Generator}: the prompt in one pass, then one step
 * per token with the layers' states carried) while the sequence fits the model's position limit, and
 * from full recompute of the last {@code min(limit, context)} tokens after it (said once through the
 * notice sink). {@link #fullRecompute} recomputes every token; within the limit both give the same
 * logits (to float rounding) and, with the same seed, the same tokens.
 */
public final class Sampler {
  /** The most tokens one call samples (each costs a forward pass; the sequence is held in one array). */
  public static final int MAX_TOKENS = 1_000_000;

  private final ModelRuntime runtime;
  private final Tokenizer tokenizer;
  private final boolean recompute;
  private final Consumer<String> notices;

  public Sampler(ModelRuntime runtime, Tokenizer tokenizer) {
    this(runtime, tokenizer, false, System.err::println);
  }

  private Sampler(ModelRuntime runtime, Tokenizer tokenizer, boolean recompute, Consumer<String> notices) {
    this.runtime = runtime;
    this.tokenizer = tokenizer;
    this.recompute = recompute;
    this.notices = notices;
  }

  /** The same sampler, recomputing the whole window for every token (no cached state). */
  public Sampler fullRecompute() {
    return new Sampler(runtime, tokenizer, true, notices);
  }

  /** The same sampler, sending its one-line notices (e.g. passing the position limit) to {@code sink}. */
  public Sampler notices(Consumer<String> sink) {
    return new Sampler(runtime, tokenizer, recompute, sink);
  }

  /**
   * Continues {@code prompt} with {@code tokens} new tokens; returns prompt + continuation.
   *
   * @throws IllegalArgumentException if the prompt has characters outside the vocabulary
   */
  public String sample(String prompt, int tokens, double temperature, int topK, long seed) {
    if (!(temperature > 0)) {
      throw new IllegalArgumentException("temperature must be > 0, got " + temperature);
    }
    if (tokens < 0 || tokens > MAX_TOKENS) {
      throw new IllegalArgumentException("the number of tokens to sample must be between 0 and " + MAX_TOKENS
          + ", got " + tokens);
    }
    if (topK < 0) {
      throw new IllegalArgumentException("top-k must be >= 0 (0 = no limit), got " + topK);
    }
    int[] start = prompt.isEmpty() ? new int[] {defaultStart()} : tokenizer.encode(prompt);
    int[] seq = generate(start, tokens, temperature, topK, seed);
    String text = tokenizer.decode(seq);
    return prompt.isEmpty() ? text.substring(tokenizer.decode(start).length()) : text;
  }

  /** {@code start} followed by {@code tokens} sampled tokens. */
  int[] generate(int[] start, int tokens, double temperature, int topK, long seed) {
    int context = runtime.config().context();
    int[] seq = Arrays.copyOf(start, start.length + tokens);
    int len = start.length;
    SplittableRandom rnd = new SplittableRandom(seed);
    int i = 0;
    long limit = context;
    if (!recompute && tokens > 0) {
      Generator g = runtime.generator();
      limit = g.positionLimit();
      if (len <= limit) {
        try (Generator.Sequence s = g.start(new int[][] {Arrays.copyOf(seq, len)})) {
          while (true) {
            seq[len++] = pick(s.logits()[0], temperature, topK, rnd);
            if (++i == tokens || len > limit) {
              break;
            }
            s.append(new int[] {seq[len - 1]});
          }
        }
      }
      if (i < tokens) {
        notices.accept("generation past the position limit " + limit + ": recomputing the last "
            + Math.min(limit, context) + " tokens per token");
      }
    }
    int window = (int) Math.min(limit, context);
    for (; i < tokens; i++) {
      int from = Math.max(0, len - window);
      float[] logits = runtime.nextLogits(Arrays.copyOfRange(seq, from, len));
      seq[len++] = pick(logits, temperature, topK, rnd);
    }
    return seq;
  }

  /** Newline if it is in the vocabulary, else token 0. */
  private int defaultStart() {
    try {
      return tokenizer.encode("\n")[0];
    } catch (IllegalArgumentException e) {
      return 0;
    }
  }

  static int pick(float[] logits, double temperature, int topK, SplittableRandom rnd) {
    int n = logits.length;
    double[] z = new double[n];
    for (int i = 0; i < n; i++) {
      z[i] = logits[i] / temperature;
    }
    if (topK > 0 && topK < n) {
      double[] sorted = z.clone();
      Arrays.sort(sorted);
      double threshold = sorted[n - topK];
      for (int i = 0; i < n; i++) {
        if (z[i] < threshold) {
          z[i] = Double.NEGATIVE_INFINITY;
        }
      }
    }
    double max = Arrays.stream(z).max().orElseThrow();
    double sum = 0;
    for (int i = 0; i < n; i++) {
      z[i] = Math.exp(z[i] - max);
      sum += z[i];
    }
    double u = rnd.nextDouble() * sum;
    for (int i = 0; i < n; i++) {
      u -= z[i];
      if (u <= 0) {
        return i;
      }
    }
    for (int i = n - 1; i >= 0; i--) {
      if (z[i] > 0) {
        return i;
      }
    }
    return n - 1;
  }
}
