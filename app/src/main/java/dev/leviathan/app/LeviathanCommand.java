package dev.leviathan.app;

import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** {@code leviathan}: train and compare language models whose token mixer is a plug-in. */
@Command(
    name = "leviathan",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "Train and compare language models whose token mixer is a plug-in.",
    subcommands = {TrainCommand.class, SampleCommand.class, EvalCommand.class, MixersCommand.class,
        ExportCommand.class, dev.leviathan.app.bench.BenchCommand.class,
        dev.leviathan.app.bench.CompareCommand.class,
        dev.leviathan.app.launch.LaunchCommand.class})
public final class LeviathanCommand implements Runnable {
  @Option(names = "--debug", scope = ScopeType.INHERIT, description = "Print stack traces on errors.")
  boolean debug;

  @Option(names = "--plugins", scope = ScopeType.INHERIT, paramLabel = "DIR",
      description = "Folder of mixer plugin jars (repeatable); also LEVIATHAN_PLUGINS and ./plugins.")
  List<Path> plugins;

  /** Whether {@code --debug} was given. */
  public boolean debug() {
    return debug;
  }

  /** The {@code --plugins} folders given on the command line. */
  public List<Path> pluginDirs() {
    return plugins == null ? List.of() : plugins;
  }

  @picocli.CommandLine.Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }
}
