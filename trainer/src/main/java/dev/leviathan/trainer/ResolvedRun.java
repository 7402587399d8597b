package dev.leviathan.trainer;

import dev.leviathan.core.model.ResolvedLayer;
import dev.leviathan.core.model.ResolvedModel;
import java.util.List;

/** A run spec with its mixers looked up and their options resolved ({@link RunSpec#resolve}). */
public record ResolvedRun(RunSpec spec, List<ResolvedLayer> layers) {
  public ResolvedRun {
    layers = List.copyOf(layers);
  }

  /** The model to build for a corpus with {@code vocabSize} tokens. */
  public ResolvedModel model(int vocabSize) {
    return new ResolvedModel(spec.model().modelConfig(vocabSize), layers);
  }

  /** Whether every mixer in the stack is causal. */
  public boolean causal() {
    return layers.stream().allMatch(ResolvedLayer::causal);
  }
}
