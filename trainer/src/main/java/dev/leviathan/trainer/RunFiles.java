package dev.leviathan.trainer;

import java.util.List;

/** Reports evaluations into the run directory: {@code metrics.csv} and the {@code loss.png} plot. */
final class RunFiles implements TrainingListener {
  private final RunDirectory run;
  private final List<Evaluation> rows;
  private final String title;

  /** {@code rows} is the run's metrics so far; evaluations are appended to it by the run. */
  RunFiles(RunDirectory run, List<Evaluation> rows, String mixerLabel) {
    this.run = run;
    this.rows = rows;
    this.title = mixerLabel + " — " + run.path().getFileName();
  }

  @Override
  public void started(Start start) {
    run.writeMetrics(rows);
  }

  @Override
  public void evaluated(Evaluation e, boolean best) {
    run.writeMetrics(rows);
    run.drawLoss(rows, title);
  }
}
