package dev.leviathan.app;

import com.google.inject.Inject;
import com.google.inject.name.Named;
import dev.leviathan.trainer.Corpus;
import dev.leviathan.trainer.Evaluator;
import dev.leviathan.trainer.RunSpec;
import dev.leviathan.trainer.Trainer;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code leviathan eval}. */
@Command(name = "eval", mixinStandardHelpOptions = true,
    description = "Print the validation loss (nats) and bits per character of a trained run.")
final class EvalCommand implements Callable<Integer> {
  @Option(names = "--run", required = true, paramLabel = "DIR", description = "Run directory written by train.")
  Path run;

  @Option(names = "--data", paramLabel = "FILE", description = "Evaluate on the validation part of another text file.")
  Path data;

  @Option(names = "--checkpoint", paramLabel = "last|best", description = "Which checkpoint (default: ${DEFAULT-VALUE}).")
  String checkpoint = "last";

  private final Trainer trainer;
  private final PrintStream out;
  private final Path workingDir;

  @Inject
  EvalCommand(Trainer trainer, @Named("out") PrintStream out, @Named("workingDir") Path workingDir) {
    this.trainer = trainer;
    this.out = out;
    this.workingDir = workingDir;
  }

  @Override
  public Integer call() {
    try (Trainer.LoadedRun loaded = trainer.open(workingDir.resolve(run), checkpoint)) {
      RunSpec spec = data == null ? loaded.spec() : loaded.spec().withDataFile(workingDir.resolve(data).toString());
      Corpus corpus = Corpus.load(spec.data(), spec.model().context(), loaded.tokenizer());
      double loss = new Evaluator(loaded.runtime(), spec, corpus).validationLoss();
      out.printf(Locale.ROOT, "val_loss=%.4f val_bpc=%.4f (step %d, checkpoint %s, %s)%n", loss, loss / Math.log(2),
          loaded.state().step(), checkpoint, corpus.name());
    }
    return 0;
  }
}
