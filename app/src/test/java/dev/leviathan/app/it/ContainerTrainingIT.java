package dev.leviathan.app.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.containers.Network;
import org.testcontainers.junit.jupiter.Testcontainers;

/**
 * The app as users run it in a container: the image built from the packaged jar, {@code train} with a
 * plugin mixer mounted into {@code /plugins}, then {@code sample} from the checkpoint that the first
 * container left in a mounted host folder. Skipped (reported as such) when no Docker engine is reachable.
 */
@Tag("docker")
@Testcontainers(disabledWithoutDocker = true)
class ContainerTrainingIT {
  @TempDir static Path work;
  static Path plugins;
  static Path runs;
  static String image;
  static Network network;

  @BeforeAll
  static void buildImageAndPlugin() throws Exception {
    plugins = Files.createDirectories(work.resolve("plugins"));
    runs = Files.createDirectories(work.resolve("runs"));
    AppContainers.buildExamplePlugin(plugins);
    String base = AppContainers.baseImage();
    image = AppContainers.build(AppContainers.image(base), base);
    network = Network.newNetwork();
  }

  @AfterAll
  static void removeNetworkAndImage() {
    if (network != null) {
      network.close();
    }
    AppContainers.remove(image);
  }

  @Test
  void trainsWithAPluginMixerAndSamplesFromTheCheckpointOnTheHost() throws Exception {
    AppContainers.Run train = AppContainers.run(image, network, plugins, runs, cmd -> {}, TinyRun.train("cpu-run"));
    assertEquals(0, train.exitCode(), train.toString());
    assertTrue(train.stdout().contains("devices: CPU:0") && train.stdout().contains("model runs on: CPU (CPU:0)"),
        train.toString());
    assertTrue(train.stdout().contains("training causal-conv in /runs/cpu-run"), train.toString());

    Path run = runs.resolve("cpu-run");
    TinyRun.assertTrainedAndCheckpointed(run, train);
    String runJson = Files.readString(run.resolve("run.json"));
    assertTrue(runJson.contains("\"device\" : \"cpu\"") && runJson.contains("\"type\" : \"CPU\""), runJson);
    assertTrue(runJson.contains("causal-conv") && runJson.contains("causal-conv-mixer.jar"),
        "the plugin's provider and jar are recorded: " + runJson);

    AppContainers.Run sample = AppContainers.run(image, network, plugins, runs, cmd -> {}, TinyRun.sample("cpu-run"));
    assertEquals(0, sample.exitCode(), sample.toString());
    assertTrue(sample.stdout().startsWith("ROMEO:") && sample.stdout().strip().length() >= 40, sample.toString());
  }

  @Test
  void deviceGpuFailsWithOneLineWhenTheContainerHasNoGpu() throws Exception {
    AppContainers.Run train = AppContainers.run(image, network, plugins, runs, cmd -> {},
        TinyRun.train("gpu-refused", "--device", "gpu"));
    assertEquals(1, train.exitCode(), train.toString());
    List<String> errors = train.stderr().lines().filter(l -> l.startsWith("error: ")).toList();
    assertEquals(1, errors.size(), train.toString());
    assertTrue(errors.get(0).startsWith("error: --device gpu: TensorFlow sees no GPU (devices: CPU:0)"),
        train.toString());
    assertFalse(Files.exists(runs.resolve("gpu-refused")), "nothing is written when the device is refused");
  }
}
