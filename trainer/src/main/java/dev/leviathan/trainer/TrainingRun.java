package dev.leviathan.trainer;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The loop of one run session, from its starting point to the configured number of steps or a stop
 * request: each step goes through the {@link StepExecutor}; every {@code eval-interval} steps and at the
 * end it evaluates (and writes {@code best} on a new best validation loss), every
 * {@code checkpoint-interval} steps and at the end it writes {@code last}, and after a stop it writes
 * {@code last} before returning. Everything it learns goes to the listener; files are written only by the
 * chief ({@link TaskRole}).
 */
final class TrainingRun {
  private final RunSpec spec;
  private final Progress progress;
  private final StepExecutor executor;
  private final Evaluator evaluator;
  private final CheckpointWriter checkpoints;
  private final TaskRole role;
  /** Data-parallel workers whose batches make one step's global batch (1 for one process). */
  private final int workers;
  private final TrainingListener listener;
  private final Path checkpointRoot;

  TrainingRun(RunSpec spec, Progress progress, StepExecutor executor, Evaluator evaluator,
      CheckpointWriter checkpoints, TaskRole role, int workers, TrainingListener listener, Path checkpointRoot) {
    this.spec = spec;
    this.progress = progress;
    this.executor = executor;
    this.evaluator = evaluator;
    this.checkpoints = checkpoints;
    this.role = role;
    this.workers = workers;
    this.listener = listener;
    this.checkpointRoot = checkpointRoot;
  }

  /** What the loop ended with. */
  record Outcome(double tokensPerSec, boolean interrupted) {}

  /** Evaluates the untrained model (step 0) of a fresh run. */
  void evaluateStart(double lr) {
    TrainingListener.Evaluation e = evaluator.evaluate(0, lr, 0, 0);
    progress.add(e);
    listener.evaluated(e, false);
  }

  Outcome run(AtomicBoolean stop) {
    LearningRate schedule = spec.learningRate();
    int steps = spec.schedule().steps();
    long tokensPerStep = (long) spec.schedule().batch() * workers * spec.model().context();
    long t0 = System.nanoTime();
    // tokens/s leaves out the first step of the process (TensorFlow optimises the graph on it) once
    // another step has run
    long stepNanos = 0;
    long stepsTimed = 0;
    long firstStepNanos = -1;
    double tokensPerSec = 0;
    executor.barrier(progress.step);
    while (progress.step < steps) {
      if (stop.get()) {
        checkpoint("last");
        return new Outcome(tokensPerSec, true);
      }
      int[][] batch = progress.trainBatches.next();
      double lr = schedule.at(progress.step);
      long s0 = System.nanoTime();
      ModelRuntime.StepResult r = executor.step(batch, progress.step, lr);
      long took = System.nanoTime() - s0;
      if (firstStepNanos < 0) {
        firstStepNanos = took;
      } else {
        stepNanos += took;
        stepsTimed++;
      }
      if (!Double.isFinite(r.loss()) || !Double.isFinite(r.gradNorm())) {
        throw new Trainer.DivergedException(Divergence.lossMessage(progress.step + 1, r.loss(), r.gradNorm(),
            new Checkpoints(checkpointRoot.getParent())));
      }
      progress.step++;
      double secs = (System.nanoTime() - t0) / 1e9;
      tokensPerSec = stepsTimed > 0
          ? stepsTimed * tokensPerStep / Math.max(stepNanos / 1e9, 1e-9)
          : tokensPerStep / Math.max(firstStepNanos / 1e9, 1e-9);
      listener.stepped(progress.step, r.loss(), lr, tokensPerSec);
      listener.gradientNorm(progress.step, r.gradNorm());
      boolean end = progress.step == steps;
      if (progress.step % spec.schedule().evalInterval() == 0 || end) {
        TrainingListener.Evaluation e = evaluator.evaluate(progress.step, lr, tokensPerSec, progress.elapsedBefore + secs);
        boolean improved = progress.add(e);
        listener.evaluated(e, improved);
        if (improved) {
          checkpoint("best");
        }
      }
      if (progress.step % spec.schedule().checkpointInterval() == 0 || end) {
        checkpoint("last");
      }
    }
    return new Outcome(tokensPerSec, false);
  }

  /** The chief writes checkpoint {@code name}; every task then waits until it is written. */
  private void checkpoint(String name) {
    if (role.chief()) {
      listener.checkpointed(name, checkpoints.save(name, progress), progress.step);
    }
    executor.barrier(progress.step);
  }
}
