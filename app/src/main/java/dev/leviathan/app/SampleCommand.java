package dev.leviathan.app;

import com.google.inject.Inject;
import com.google.inject.name.Named;
import dev.leviathan.trainer.Sampler;
import dev.leviathan.trainer.Trainer;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code leviathan sample}. */
@Command(name = "sample", mixinStandardHelpOptions = true, description = "Generate text from a trained run.")
final class SampleCommand implements Callable<Integer> {
  @Option(names = "--run", required = true, paramLabel = "DIR", description = "Run directory written by train.")
  Path run;

  @Option(names = "--prompt", paramLabel = "TEXT", description = "Text to continue (default: a new line).")
  String prompt = "";

  @Option(names = "--tokens", paramLabel = "N", description = "Number of new tokens (default: ${DEFAULT-VALUE}).")
  int tokens = 500;

  @Option(names = "--temperature", paramLabel = "T", description = "Softmax temperature (default: ${DEFAULT-VALUE}).")
  double temperature = 0.8;

  @Option(names = "--top-k", paramLabel = "K", description = "Sample among the K likeliest tokens; 0 = all (default).")
  int topK = 0;

  @Option(names = "--seed", paramLabel = "N", description = "Random seed (default: ${DEFAULT-VALUE}).")
  long seed = 1337;

  @Option(names = "--checkpoint", paramLabel = "last|best", description = "Which checkpoint (default: ${DEFAULT-VALUE}).")
  String checkpoint = "last";

  @Option(names = "--full-recompute",
      description = "Recompute the whole window for every token instead of carrying the mixers' states.")
  boolean fullRecompute;

  private final Trainer trainer;
  private final PrintStream out;
  private final PrintStream err;
  private final Path workingDir;

  @Inject
  SampleCommand(Trainer trainer, @Named("out") PrintStream out, @Named("err") PrintStream err,
      @Named("workingDir") Path workingDir) {
    this.trainer = trainer;
    this.out = out;
    this.err = err;
    this.workingDir = workingDir;
  }

  @Override
  public Integer call() {
    if (tokens < 0 || tokens > Sampler.MAX_TOKENS) {
      throw new IllegalArgumentException("--tokens must be between 0 and " + Sampler.MAX_TOKENS + ", got " + tokens);
    }
    try (Trainer.LoadedRun loaded = trainer.open(workingDir.resolve(run), checkpoint)) {
      Sampler sampler = new Sampler(loaded.runtime(), loaded.tokenizer()).notices(err::println);
      long start = System.nanoTime();
      String text = (fullRecompute ? sampler.fullRecompute() : sampler).sample(prompt, tokens, temperature, topK, seed);
      double seconds = (System.nanoTime() - start) / 1e9;
      out.println(text);
      err.printf(Locale.ROOT, "sampled %d tokens in %.2f s: %.1f tokens/s (%s)%n", tokens, seconds,
          tokens / Math.max(seconds, 1e-9), fullRecompute ? "full recompute" : "cached generation");
    }
    return 0;
  }
}
