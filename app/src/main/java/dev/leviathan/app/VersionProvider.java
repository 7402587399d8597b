package dev.leviathan.app;

import dev.leviathan.trainer.Versions;
import org.tensorflow.TensorFlow;
import picocli.CommandLine;

/** {@code leviathan --version}. */
final class VersionProvider implements CommandLine.IVersionProvider {
  @Override
  public String[] getVersion() {
    return new String[] {"leviathan " + Versions.leviathan(), "TensorFlow " + TensorFlow.version(),
        "Java " + System.getProperty("java.version")};
  }
}
