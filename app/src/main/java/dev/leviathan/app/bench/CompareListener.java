package dev.leviathan.app.bench;

import dev.leviathan.trainer.TrainingListener;
import java.io.PrintStream;
import java.util.Locale;

/** Progress of one compare run as log lines prefixed with the run's name (about ten per run). */
final class CompareListener implements TrainingListener {
  private final PrintStream out;
  private final String label;
  private long logEvery = 1;
  private int steps;

  CompareListener(PrintStream out, String label) {
    this.out = out;
    this.label = "[" + label + "] ";
  }

  @Override
  public void started(Start s) {
    steps = s.steps();
    logEvery = Math.max(1, (s.steps() - s.firstStep()) / 10);
    out.printf(Locale.ROOT, "%s%s in %s | parameters %,d | tokens per step %,d | steps %d -> %d%n", label,
        s.resumed() ? "resuming" : "training", s.runDir(), s.parameters(), s.tokensPerStep(), s.firstStep(), s.steps());
  }

  @Override
  public void note(String message) {
    out.println(label + "note: " + message);
  }

  @Override
  public void stepped(long step, double loss, double lr, double tokensPerSec) {
    if (step % logEvery == 0) {
      out.printf(Locale.ROOT, "%sstep %d/%d | loss %.4f | %,.0f tok/s%n", label, step, steps, loss, tokensPerSec);
    }
  }

  @Override
  public void evaluated(Evaluation e, boolean best) {
    out.printf(Locale.ROOT, "%seval step %d: train %.4f | val %.4f nats (%.4f bpc)%n", label, e.step(), e.trainLoss(),
        e.valLoss(), e.valBpc());
  }

  @Override
  public void warn(String message) {
    out.println(label + "WARNING: " + message);
  }
}
