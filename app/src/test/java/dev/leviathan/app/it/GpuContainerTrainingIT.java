package dev.leviathan.app.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.dockerjava.api.command.CreateContainerCmd;
import com.github.dockerjava.api.model.DeviceRequest;
import com.github.dockerjava.api.model.Info;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.Network;
import org.testcontainers.junit.jupiter.Testcontainers;

/**
 * The GPU image on a GPU host: the app packaged with TensorFlow's GPU natives ({@code mvn -Pgpu}) on a
 * CUDA 12 + cuDNN 9 base, every GPU requested through the container's create command (a
 * {@link DeviceRequest} with the {@code gpu} capability, what {@code docker run --gpus all} sends), then
 * the same train-and-sample round trip as {@link ContainerTrainingIT}, with {@code --device gpu}.
 * Runs only where Docker has the NVIDIA runtime; elsewhere it is skipped with the reason.
 */
@Tag("gpu")
@Testcontainers(disabledWithoutDocker = true)
class GpuContainerTrainingIT {
  static final DeviceRequest ALL_GPUS = new DeviceRequest().withCount(-1).withCapabilities(List.of(List.of("gpu")));

  @TempDir Path work;

  @Test
  void trainsOnTheGpuAndSamplesFromTheCheckpointOnTheHost() throws Exception {
    requireNvidiaRuntimeAndGpuBuild();
    Path plugins = Files.createDirectories(work.resolve("plugins"));
    Path runs = Files.createDirectories(work.resolve("runs"));
    AppContainers.buildExamplePlugin(plugins);
    String base = AppContainers.gpuBaseImage();
    String image = AppContainers.build(AppContainers.image(base), base);
    Consumer<CreateContainerCmd> allGpus = cmd -> cmd.getHostConfig().withDeviceRequests(List.of(ALL_GPUS));
    try (Network network = Network.newNetwork()) {
      runOnAllGpus(image, network, plugins, runs, allGpus);
    } finally {
      AppContainers.remove(image);
    }
  }

  /** Train with {@code --device gpu}, then sample, each in a container given every GPU. */
  private static void runOnAllGpus(String image, Network network, Path plugins, Path runs,
      Consumer<CreateContainerCmd> allGpus) throws Exception {
    AppContainers.Run train = AppContainers.run(image, network, plugins, runs, allGpus,
        TinyRun.train("gpu-run", "--device", "gpu"));
    assertEquals(0, train.exitCode(), train.toString());
    assertTrue(train.stdout().contains("model runs on: GPU (GPU:0)"), train.toString());
    Matcher devices = Pattern.compile("devices: CPU:0, GPU:0 \\([0-9.]+ GiB\\)").matcher(train.stdout());
    assertTrue(devices.find(), train.toString());

    Path run = runs.resolve("gpu-run");
    TinyRun.assertTrainedAndCheckpointed(run, train);
    String runJson = Files.readString(run.resolve("run.json"));
    assertTrue(runJson.contains("\"device\" : \"gpu\"") && runJson.contains("\"type\" : \"GPU\""), runJson);

    AppContainers.Run sample = AppContainers.run(image, network, plugins, runs, allGpus, TinyRun.sample("gpu-run"));
    assertEquals(0, sample.exitCode(), sample.toString());
    assertTrue(sample.stdout().startsWith("ROMEO:") && sample.stdout().strip().length() >= 40, sample.toString());
  }

  /**
   * Skips (reported as skipped, with the reason) unless Docker has the NVIDIA runtime and the app was packaged
   * with TensorFlow's GPU natives. Checked in the test: an assumption in {@code @BeforeAll} is not reported.
   */
  static void requireNvidiaRuntimeAndGpuBuild() throws Exception {
    Info info = DockerClientFactory.instance().client().infoCmd().exec();
    Map<String, ?> runtimes = info.getRuntimes() == null ? Map.of() : info.getRuntimes();
    AppContainers.assume(runtimes.containsKey("nvidia"), "Docker has no NVIDIA runtime (runtimes: "
        + runtimes.keySet() + "); install the NVIDIA Container Toolkit on a GPU host to run the GPU container test");
    List<String> natives = AppContainers.tensorflowNatives();
    AppContainers.assume(natives.stream().anyMatch(n -> n.endsWith("-gpu.jar")), "the app was packaged with "
        + natives + ", not TensorFlow's GPU natives; build it with the gpu profile:"
        + " mvn -Pgpu clean verify -pl app -am");
  }
}
