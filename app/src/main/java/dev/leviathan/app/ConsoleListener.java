package dev.leviathan.app;

import dev.leviathan.trainer.TrainingListener;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Shows a training run: a progress bar with step, loss, tokens/s and ETA on a terminal, plain log lines
 * otherwise (or with {@code --no-progress}).
 */
final class ConsoleListener implements TrainingListener {
  private final PrintStream out;
  private final boolean bar;
  private ProgressBar progress;
  private int steps;
  private long logEvery;
  private String warning;

  ConsoleListener(PrintStream out, boolean bar) {
    this.out = out;
    this.bar = bar;
  }

  @Override
  public void started(Start s) {
    steps = s.steps();
    logEvery = Math.max(1, Math.min(100, s.steps() / 20));
    out.printf(Locale.ROOT, "%s %s in %s%n", s.resumed() ? "resuming" : "training", s.mixers(), s.runDir());
    out.printf(Locale.ROOT, "parameters: %,d | tokens per step: %,d | device: %s | steps %d -> %d%n",
        s.parameters(), s.tokensPerStep(), s.device(), s.firstStep(), s.steps());
    if (bar) {
      progress = new ProgressBarBuilder()
          .setTaskName("train")
          .setInitialMax(s.steps())
          .startsFrom(s.firstStep(), Duration.ZERO)
          .setStyle(ProgressBarStyle.ASCII)
          .setConsumer(new ConsoleProgressBarConsumer(out))
          .setUpdateIntervalMillis(250)
          .continuousUpdate()
          .build();
    }
  }

  @Override
  public void stepped(long step, double loss, double lr, double tokensPerSec) {
    if (progress != null) {
      progress.stepTo(step);
      progress.setExtraMessage(String.format(Locale.ROOT, "loss %.4f | %,.0f tok/s", loss, tokensPerSec));
    } else if (step % logEvery == 0) {
      out.printf(Locale.ROOT, "step %d/%d | loss %.4f | lr %.2e | %,.0f tok/s%n", step, steps, loss, lr, tokensPerSec);
    }
  }

  @Override
  public void evaluated(Evaluation e, boolean best) {
    String line = String.format(Locale.ROOT, "eval step %d: train %.4f | val %.4f nats (%.4f bpc)%s%s", e.step(),
        e.trainLoss(), e.valLoss(), e.valBpc(), best ? " | best" : "",
        warning == null ? "" : " | WARNING: " + warning);
    if (progress != null) {
      progress.pause();
      out.print("\r\033[K");
      out.println(line);
      progress.resume();
    } else {
      out.println(line);
    }
  }

  @Override
  public void note(String message) {
    out.println("note: " + message);
  }

  @Override
  public void warn(String message) {
    warning = message;
    out.println("WARNING: " + message);
  }

  @Override
  public void finished() {
    if (progress != null) {
      progress.close();
      progress = null;
    }
  }
}
