package dev.leviathan.trainer;

/**
 * Mean loss over {@code eval-iters} fixed batches of the training and validation parts: the same batches
 * at every evaluation (each stream is rewound first), so evaluations are comparable and {@code eval}
 * reproduces training's figures.
 */
public final class Evaluator {
  private final ModelRuntime runtime;
  private final ScheduleSpec schedule;
  private final Batches train;
  private final Batches val;
  private final int batch;

  public Evaluator(ModelRuntime runtime, RunSpec spec, Corpus corpus) {
    this(runtime, spec, corpus, 1);
  }

  /**
   * An evaluator for a run of {@code tasks} data-parallel workers: its batches have the global batch
   * ({@code tasks * batch} windows, those of a single process with that batch), and every worker
   * evaluates all of them, so the workers get the same figures without a collective.
   */
  public Evaluator(ModelRuntime runtime, RunSpec spec, Corpus corpus, int tasks) {
    this.runtime = runtime;
    this.schedule = spec.schedule();
    this.batch = schedule.batch() * tasks;
    int context = spec.model().context();
    this.train = new Batches(corpus.train(), context, batch, schedule.seed(), 2);
    this.val = new Batches(corpus.val(), context, batch, schedule.seed(), 3);
  }

  /** One metrics row at {@code step}. */
  public TrainingListener.Evaluation evaluate(long step, double lr, double tokensPerSec, double elapsedSec) {
    double trainLoss = meanLoss(train);
    double valLoss = meanLoss(val);
    return new TrainingListener.Evaluation(step, trainLoss, valLoss, valLoss / Math.log(2), lr, tokensPerSec,
        elapsedSec);
  }

  /** The validation loss alone (nats). */
  public double validationLoss() {
    return meanLoss(val);
  }

  private double meanLoss(Batches batches) {
    batches.seek(0);
    double sum = 0;
    for (int i = 0; i < schedule.evalIters(); i++) {
      int[][] b = batches.next();
      sum += runtime.loss(b[0], b[1], batch);
    }
    return sum / schedule.evalIters();
  }
}
