package dev.leviathan.trainer;

import java.util.ArrayList;
import java.util.List;

/**
 * Where a run stands: the last completed step, the best validation loss so far, the metrics rows, the
 * wall time of earlier sessions of the run and the training data stream.
 */
final class Progress {
  long step;
  double best = Double.POSITIVE_INFINITY;
  double elapsedBefore;
  final List<TrainingListener.Evaluation> rows = new ArrayList<>();
  final Batches trainBatches;

  Progress(Batches trainBatches) {
    this.trainBatches = trainBatches;
  }

  /** The latest metrics row, or {@code null} before the first evaluation. */
  TrainingListener.Evaluation last() {
    return rows.isEmpty() ? null : rows.get(rows.size() - 1);
  }

  /** Adds an evaluation; returns whether its validation loss is the best so far. */
  boolean add(TrainingListener.Evaluation e) {
    rows.add(e);
    boolean improved = e.valLoss() < best;
    if (improved) {
      best = e.valLoss();
    }
    return improved;
  }
}
