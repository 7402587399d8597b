package dev.leviathan.trainer;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The rule that a checkpoint only ever holds finite parameters and optimiser moments, and the message of
 * a diverged run. The loss of a step is computed before its update, so an update that makes the weights
 * non-finite shows in the loss only one step later; {@link #requireFinite} checks the variables themselves
 * right before a checkpoint is written, so that the update of the checkpoint's own step is covered too.
 */
public final class Divergence {
  private Divergence() {}

  /**
   * Fails with {@link Trainer.DivergedException} when a parameter or moment of {@code runtime} is
   * non-finite after the update of (1-based) {@code step}, before checkpoint {@code name} would be written.
   */
  public static void requireFinite(ModelRuntime runtime, Checkpoints checkpoints, long step, String name) {
    if (!runtime.allFinite()) {
      throw new Trainer.DivergedException("training diverged at step " + step + ": its update made parameters or"
          + " optimiser moments non-finite (NaN or infinity), so checkpoint '" + name + "' was not written; "
          + intact(checkpoints));
    }
  }

  /** The message for a non-finite loss or gradient norm at (1-based) {@code step}. */
  public static String lossMessage(long step, double loss, double gradNorm, Checkpoints checkpoints) {
    String what = Double.isFinite(loss) ? "the gradient norm is " + gradNorm : "the loss is " + loss;
    return "training diverged at step " + step + ": " + what + "; " + intact(checkpoints);
  }

  /** Names the checkpoint a resume would start from, with its step and path, or says there is none. */
  static String intact(Checkpoints checkpoints) {
    String fix = "Lower lr (--set lr=...) or check the mixer's numerical stability";
    Path last = checkpoints.resolve("last");
    Path best = checkpoints.resolve("best");
    Path kept = Files.isDirectory(last) ? last : Files.isDirectory(best) ? best : null;
    if (kept == null) {
      return "no checkpoint was written before that, so there is nothing to resume. " + fix + " and train again";
    }
    try {
      long step = Checkpoints.read(kept).step();
      String resume = kept == last ? "--resume" : "--resume --checkpoint best";
      return "the last good checkpoint in " + checkpoints.root() + " is intact: '" + kept.getFileName() + "' at step "
          + step + " (" + kept + "). " + fix + ", then " + resume;
    } catch (CheckpointException e) {
      return "the checkpoint in " + kept + " cannot be read either (" + e.getMessage() + ")";
    }
  }
}
