package dev.leviathan.trainer;

import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeleteDeviceList;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeviceListCount;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeviceListMemoryBytes;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeviceListName;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_DeviceListType;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_SessionListDevices;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetConfig;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.tensorflow.internal.c_api.TF_DeviceList;
import org.tensorflow.internal.c_api.TF_Graph;
import org.tensorflow.internal.c_api.TF_Session;
import org.tensorflow.internal.c_api.TF_SessionOptions;
import org.tensorflow.internal.c_api.TF_Status;
import org.tensorflow.proto.ConfigProto;

/**
 * The devices TensorFlow can place operations on, and the process's device choice.
 *
 * <p>TensorFlow Java has no public call that lists devices, so {@link #list} asks the C API: it opens a
 * session on an empty graph with the given config and reads {@code TF_SessionListDevices}. A session
 * sees every GPU of the process unless its config sets {@code device_count {"GPU": 0}}; with a GPU
 * visible, TensorFlow places every operation that has a GPU kernel on {@code GPU:0}, so "the model
 * runs on the GPU" exactly when the session that runs it sees one.
 *
 * <p>The choice travels with the run ({@link RuntimeSpec#device()}); sessions start from
 * {@link #sessionConfig(Choice)}, so {@code --device cpu} hides the GPUs from them in-process, without
 * touching {@code CUDA_VISIBLE_DEVICES}, which a running JVM cannot change for itself.
 */
public final class Devices {
  private Devices() {}

  /** Where the model should run: {@code auto} (GPU:0 when there is one), {@code cpu} or {@code gpu}. */
  public enum Choice {
    AUTO, CPU, GPU;

    /** Parses {@code auto|cpu|gpu} (any case). */
    public static Choice parse(String text) {
      for (Choice c : values()) {
        if (c.name().equalsIgnoreCase(text.strip())) {
          return c;
        }
      }
      throw new ConfigException("unknown device '" + text + "'; use auto, cpu or gpu");
    }

    @Override
    public String toString() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** One device as TensorFlow names it ({@code /job:localhost/replica:0/task:0/device:GPU:0}). */
  @JsonPropertyOrder({"name", "type", "memory-bytes"})
  public record Device(String name, String type, @JsonProperty("memory-bytes") long memoryBytes) {
    @JsonIgnore
    public boolean isGpu() {
      return type.equals("GPU");
    }

    /** {@code CPU:0}, {@code GPU:1}: the part of the name after {@code device:}. */
    @JsonIgnore
    public String shortName() {
      int i = name.lastIndexOf("device:");
      return i < 0 ? name : name.substring(i + "device:".length());
    }

    /** {@code GPU:0 (79.2 GiB)}; the memory only for accelerators (TensorFlow reports a nominal figure for CPUs). */
    @JsonIgnore
    public String describe() {
      return isGpu() && memoryBytes > 0
          ? String.format(Locale.ROOT, "%s (%.1f GiB)", shortName(), memoryBytes / (double) (1L << 30))
          : shortName();
    }
  }

  /**
   * The devices a session configured for {@code choice} sees, and whether the model runs on a GPU.
   *
   * @param choice what was asked for
   * @param devices what a session built from {@link #configure(ConfigProto.Builder, Choice)} sees
   * @param gpu whether one of them is a GPU (then TensorFlow places the model on {@code GPU:0})
   */
  public record Placement(Choice choice, List<Device> devices, boolean gpu) {
    /** {@code GPU} or {@code CPU}. */
    public String modelDevice() {
      return gpu ? "GPU" : "CPU";
    }

    /** The device the model's operations are placed on: {@code GPU:0} or {@code CPU:0}. */
    public String primary() {
      return devices.stream().filter(d -> d.isGpu() == gpu).findFirst().map(Device::shortName)
          .orElse(gpu ? "GPU:0" : "CPU:0");
    }

    /** {@code devices: CPU:0, GPU:0 (79.2 GiB) | model runs on: GPU (GPU:0)}. */
    public String describe() {
      String list = devices.stream().map(Device::describe).collect(Collectors.joining(", "));
      String hidden = choice == Choice.CPU ? " (GPUs hidden by --device cpu)" : "";
      return "devices: " + list + hidden + " | model runs on: " + modelDevice() + " (" + primary() + ")";
    }
  }

  /** A session config for {@code choice}; callers add their own settings to it. */
  public static ConfigProto.Builder sessionConfig(Choice choice) {
    return configure(ConfigProto.newBuilder(), choice);
  }

  /** Hides the GPUs from a session ({@code device_count {"GPU": 0}}) when {@code choice} is {@code cpu}. */
  public static ConfigProto.Builder configure(ConfigProto.Builder config, Choice choice) {
    if (choice == Choice.CPU) {
      config.putDeviceCount("GPU", 0);
    }
    return config;
  }

  /**
   * Where a session of {@code runtime} runs the model. The session it opens to find out is the same as the
   * run's ({@link ModelRuntime#sessionConfig}): TensorFlow's thread pools are per process and take their
   * settings from the first session, so a session with other settings opened first would set them for the run.
   *
   * @throws ConfigException when the runtime's device is {@code gpu} and TensorFlow sees no GPU
   */
  public static Placement place(RuntimeSpec runtime) {
    Choice choice = runtime.device();
    List<Device> devices = list(ModelRuntime.sessionConfig(runtime));
    boolean gpu = devices.stream().anyMatch(Device::isGpu);
    if (choice == Choice.GPU && !gpu) {
      throw new ConfigException("--device gpu: TensorFlow sees no GPU (devices: "
          + devices.stream().map(Device::shortName).collect(Collectors.joining(", "))
          + "); build the app with the GPU natives (mvn -Pgpu clean package), check the NVIDIA driver (nvidia-smi) and,"
          + " in a container, pass --gpus all; or use --device auto");
    }
    return new Placement(choice, devices, gpu);
  }

  /** The devices a session with {@code config} sees, in TensorFlow's order (CPU first). */
  public static List<Device> list(ConfigProto config) {
    try (PointerScope scope = new PointerScope()) {
      TF_Status status = TF_Status.newStatus();
      TF_SessionOptions options = TF_SessionOptions.newSessionOptions();
      BytePointer bytes = new BytePointer(config.toByteArray());
      TF_SetConfig(options, bytes, bytes.capacity(), status);
      status.throwExceptionIfNotOK();
      TF_Graph graph = TF_Graph.newGraph();
      TF_Session session = TF_Session.newSession(graph, options, status);
      status.throwExceptionIfNotOK();
      TF_DeviceList list = TF_SessionListDevices(session, status);
      status.throwExceptionIfNotOK();
      try {
        List<Device> devices = new ArrayList<>();
        for (int i = 0; i < TF_DeviceListCount(list); i++) {
          String name = TF_DeviceListName(list, i, status).getString();
          status.throwExceptionIfNotOK();
          String type = TF_DeviceListType(list, i, status).getString();
          status.throwExceptionIfNotOK();
          long memory = TF_DeviceListMemoryBytes(list, i, status);
          status.throwExceptionIfNotOK();
          devices.add(new Device(name, type, memory));
        }
        return List.copyOf(devices);
      } finally {
        TF_DeleteDeviceList(list);
      }
    }
  }
}
