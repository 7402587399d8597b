package dev.leviathan.trainer;

import dev.leviathan.core.model.MixerSpec;
import dev.leviathan.core.model.ModelConfig;
import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * A rough estimate of the memory a training run needs, to refuse configs that cannot fit before
 * TensorFlow tries (and the process dies of an out-of-memory error). In float32 (4 bytes) with batch B,
 * context T, width W, layers L, vocabulary V:
 * <ul>
 *   <li>parameters P = V W (embedding) + T W (positions) + V W (unless tied) + L (12 W^2 + 13 W)
 *       (a mixer with four W x W projections and an MLP with hidden width 4W), held once, plus a gradient and
 *       the update's temporaries: 3 P;</li>
 *   <li>AdamW state: two moments, 2 P;</li>
 *   <li>activations kept for the backward pass: about 24 W numbers per token and layer (norms, projections,
 *       the 4W-wide MLP, residuals, and their gradients): 24 B T W L, plus the logits and their gradient
 *       3 B T V;</li>
 *   <li>attention-like T^2 terms: scores, their softmax and its gradient per head, 3 B heads T^2 L (heads
 *       = the mixer's {@code heads} option, else 1). Counted for every mixer, as an upper estimate for the
 *       linear-time ones.</li>
 * </ul>
 */
public record MemoryEstimate(long parameters, long parameterBytes, long optimizerBytes, long activationBytes,
    long quadraticBytes) {
  private static final long FLOAT = 4;

  public static MemoryEstimate of(ModelConfig m, int batch) {
    double w = m.width();
    double t = m.context();
    double v = m.vocabSize();
    double l = m.layers();
    double p = v * w + (m.positionEmbedding() ? t * w : 0) + (m.tieEmbeddings() ? 0 : v * w) + l * (12 * w * w + 13 * w);
    double activations = 24 * (double) batch * t * w * l + 3 * (double) batch * t * v;
    double quadratic = 0;
    for (int i = 0; i < m.layers(); i++) {
      MixerSpec s = m.tokenMixers().get(m.tokenMixers().size() == 1 ? 0 : Math.min(i, m.tokenMixers().size() - 1));
      quadratic += 3 * (double) batch * heads(s) * t * t;
    }
    return new MemoryEstimate(saturate(p), saturate(3 * p * FLOAT), saturate(2 * p * FLOAT),
        saturate(activations * FLOAT), saturate(quadratic * FLOAT));
  }

  private static double heads(MixerSpec s) {
    Object h = s.options().get("heads");
    return h instanceof Number n && n.doubleValue() >= 1 ? n.doubleValue() : 1;
  }

  private static long saturate(double bytes) {
    return bytes >= Long.MAX_VALUE ? Long.MAX_VALUE : (long) bytes;
  }

  public long totalBytes() {
    double sum = (double) parameterBytes + optimizerBytes + activationBytes + quadraticBytes;
    return saturate(sum);
  }

  /** The machine's physical memory (the container's limit when there is one), or 0 when unknown. */
  public static long physicalMemory() {
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getTotalMemorySize();
    }
    return 0;
  }

  /** Fails with the estimate when it exceeds {@code available} bytes (0 = unknown: never fails). */
  public void requireFits(long available, int batch, ModelConfig m) {
    if (available > 0 && totalBytes() > available) {
      throw new ConfigException(String.format(Locale.ROOT, "this config needs about %s of memory (parameters and"
              + " gradients %s, AdamW state %s, activations %s and attention-like context^2 terms %s for batch %d x"
              + " context %d x width %d x layers %d), more than this machine's %s; lower batch, context, width or"
              + " layers", gib(totalBytes()), gib(parameterBytes), gib(optimizerBytes), gib(activationBytes),
          gib(quadraticBytes), batch, m.context(), m.width(), m.layers(), gib(available)));
    }
  }

  static String gib(long bytes) {
    return bytes >= Long.MAX_VALUE ? "more than 8 EiB" : String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
  }
}
