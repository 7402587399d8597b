package dev.leviathan.trainer;

/** Listeners combined: every call goes to each, in order. */
public final class TrainingListeners {
  private TrainingListeners() {}

  public static TrainingListener both(TrainingListener a, TrainingListener b) {
    return new TrainingListener() {
      @Override
      public void started(Start start) {
        a.started(start);
        b.started(start);
      }

      @Override
      public void stepped(long step, double loss, double lr, double tokensPerSec) {
        a.stepped(step, loss, lr, tokensPerSec);
        b.stepped(step, loss, lr, tokensPerSec);
      }

      @Override
      public void gradientNorm(long step, double norm) {
        a.gradientNorm(step, norm);
        b.gradientNorm(step, norm);
      }

      @Override
      public void evaluated(Evaluation e, boolean best) {
        a.evaluated(e, best);
        b.evaluated(e, best);
      }

      @Override
      public void checkpointed(String name, java.nio.file.Path path, long step) {
        a.checkpointed(name, path, step);
        b.checkpointed(name, path, step);
      }

      @Override
      public void sampled(long step, String sample) {
        a.sampled(step, sample);
        b.sampled(step, sample);
      }

      @Override
      public void note(String message) {
        a.note(message);
        b.note(message);
      }

      @Override
      public void warn(String message) {
        a.warn(message);
        b.warn(message);
      }

      @Override
      public void finished() {
        a.finished();
        b.finished();
      }
    };
  }
}
