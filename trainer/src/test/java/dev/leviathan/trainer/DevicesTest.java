package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.proto.ConfigProto;

/** Device listing through the C API, the cpu/gpu/auto choice and the session config it produces. */
class DevicesTest {
  static boolean gpuVisible() {
    return Devices.list(ConfigProto.getDefaultInstance()).stream().anyMatch(Devices.Device::isGpu);
  }

  @Test
  void listsTheCpuFirstWithTensorFlowsFullName() {
    List<Devices.Device> devices = Devices.list(ConfigProto.getDefaultInstance());
    Devices.Device cpu = devices.get(0);
    assertEquals("CPU", cpu.type());
    assertEquals("CPU:0", cpu.shortName());
    assertTrue(cpu.name().endsWith("/device:CPU:0"), cpu.name());
    assertTrue(cpu.memoryBytes() > 0, "TensorFlow reports a memory figure for every device");
    assertEquals(1, devices.stream().filter(d -> d.type().equals("CPU")).count(), devices.toString());
  }

  @Test
  void fusedKernelsOnlyWhereTheSessionSeesNoGpu() {
    Devices.Device cpu = new Devices.Device("/job:localhost/replica:0/task:0/device:CPU:0", "CPU", 1 << 28);
    Devices.Device gpu = new Devices.Device("/job:localhost/replica:0/task:0/device:GPU:0", "GPU", 1L << 34);
    assertFalse(ModelRuntime.tensorFlowOpsOnly(List.of(cpu)));
    assertTrue(ModelRuntime.tensorFlowOpsOnly(List.of(cpu, gpu)), "a model on a GPU uses TensorFlow's own ops");
    ConfigProto cpuOnly = Devices.configure(ConfigProto.newBuilder(), Devices.Choice.CPU).build();
    assertFalse(ModelRuntime.tensorFlowOpsOnly(Devices.list(cpuOnly)), "--device cpu hides the GPUs");
    assertEquals(gpuVisible(), ModelRuntime.tensorFlowOpsOnly(Devices.list(ConfigProto.getDefaultInstance())));
  }

  @Test
  void cpuHidesEveryGpuFromTheSession() {
    ConfigProto cpuOnly = Devices.configure(ConfigProto.newBuilder(), Devices.Choice.CPU).build();
    assertEquals(0, cpuOnly.getDeviceCountOrThrow("GPU"));
    assertTrue(Devices.list(cpuOnly).stream().noneMatch(Devices.Device::isGpu));
    Devices.Placement p = Devices.place(new RuntimeSpec(0, 0, false, Devices.Choice.CPU));
    assertFalse(p.gpu());
    assertEquals("CPU (CPU:0)", p.modelDevice() + " (" + p.primary() + ")");
    assertTrue(p.describe().startsWith("devices: CPU:0 (GPUs hidden by --device cpu) | model runs on: CPU"),
        p.describe());
  }

  @Test
  void autoRunsOnTheGpuExactlyWhenOneIsVisible() {
    Devices.Placement p = Devices.place(new RuntimeSpec(0, 0, false, Devices.Choice.AUTO));
    assertEquals(gpuVisible(), p.gpu());
    assertEquals(p.gpu() ? "GPU:0" : "CPU:0", p.primary());
    assertFalse(Devices.configure(ConfigProto.newBuilder(), Devices.Choice.AUTO).build().containsDeviceCount("GPU"));
  }

  @Test
  void gpuIsRefusedInOneLineWhenNoGpuIsVisible() {
    assumeTrue(!gpuVisible(), "this host has a GPU");
    ConfigException e = assertThrows(ConfigException.class,
        () -> Devices.place(new RuntimeSpec(0, 0, false, Devices.Choice.GPU)));
    assertTrue(e.getMessage().startsWith("--device gpu: TensorFlow sees no GPU (devices: CPU:0); "), e.getMessage());
    assertEquals(1, e.getMessage().lines().count());
  }

  @Test
  void gpuRunsOnGpuZeroWhenOneIsVisible() {
    assumeTrue(gpuVisible(), "no GPU on this host");
    Devices.Placement p = Devices.place(new RuntimeSpec(0, 0, false, Devices.Choice.GPU));
    assertTrue(p.gpu());
    assertTrue(p.describe().contains("| model runs on: GPU (GPU:0)"), p.describe());
  }

  /** The thread keys of a config reach the session (and the placement's session, which TensorFlow's pools follow). */
  @Test
  void threadSettingsReachTheSessionConfig() {
    RunSpec defaults = ConfigLoader.load(null, List.of());
    ConfigProto plain = ModelRuntime.sessionConfig(defaults.runtime());
    assertTrue(plain.getExperimental().getDisableThreadSpinning(), "idle threads sleep at once by default");
    assertEquals(0, plain.getIntraOpParallelismThreads());
    assertEquals(0, plain.getInterOpParallelismThreads());
    RunSpec set = ConfigLoader.load(null, List.of("thread-spinning=true", "intra-op-threads=1", "inter-op-threads=2"));
    ConfigProto c = ModelRuntime.sessionConfig(set.runtime().withDevice(Devices.Choice.CPU));
    assertFalse(c.getExperimental().getDisableThreadSpinning());
    assertEquals(1, c.getIntraOpParallelismThreads());
    assertEquals(2, c.getInterOpParallelismThreads());
    assertEquals(0, c.getDeviceCountOrThrow("GPU"));
    assertTrue(ConfigLoader.toYaml(set).contains("thread-spinning: true"), "the run's config.yaml keeps the key");
  }

  @Test
  void sessionConfigFollowsTheRunsChoice() {
    assertEquals(0, Devices.sessionConfig(Devices.Choice.CPU).getDeviceCountOrDefault("GPU", -1));
    assertFalse(Devices.sessionConfig(Devices.Choice.AUTO).containsDeviceCount("GPU"));
  }

  @Test
  void parsesChoicesInAnyCaseAndNamesTheValidOnes() {
    assertEquals(Devices.Choice.GPU, Devices.Choice.parse(" GPU "));
    assertEquals("auto", Devices.Choice.AUTO.toString());
    ConfigException e = assertThrows(ConfigException.class, () -> Devices.Choice.parse("tpu"));
    assertEquals("unknown device 'tpu'; use auto, cpu or gpu", e.getMessage());
  }
}
