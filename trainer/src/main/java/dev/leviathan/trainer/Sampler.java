package dev.leviathan.trainer;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Autoregressive sampling: feed the last {@code context} tokens, scale the next-token logits by
 * {@code 1 / temperature}, keep the {@code topK} largest (0 = all), sample from the softmax.
 */
public final class Sampler {
  private final ModelRuntime runtime;
  private final Tokenizer tokenizer;

  public Sampler(ModelRuntime runtime, Tokenizer tokenizer) {
    this.runtime = runtime;
    this.tokenizer = tokenizer;
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
    if (topK < 0) {
      throw new IllegalArgumentException("top-k must be >= 0 (0 = no limit), got " + topK);
    }
    int[] start = prompt.isEmpty() ? new int[] {defaultStart()} : tokenizer.encode(prompt);
    int context = runtime.config().context();
    int[] seq = Arrays.copyOf(start, start.length + tokens);
    int len = start.length;
    SplittableRandom rnd = new SplittableRandom(seed);
    for (int i = 0; i < tokens; i++) {
      int from = Math.max(0, len - context);
      float[] logits = runtime.nextLogits(Arrays.copyOfRange(seq, from, len));
      seq[len++] = pick(logits, temperature, topK, rnd);
    }
    String text = tokenizer.decode(Arrays.copyOf(seq, len));
    return prompt.isEmpty() ? text.substring(tokenizer.decode(start).length()) : text;
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
