package dev.leviathan.trainer;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What {@code run.json} records about a run: versions, the command and device it was launched with, and
 * once it has started the seed, parameter count, corpus, per-layer mixers, start time and every resume.
 * Parts not known yet (or not recorded by older versions) are {@code null} and left out of the file.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
public record RunMetadata(
    String leviathan,
    String java,
    String device,
    @JsonProperty("model-runs-on") String modelRunsOn,
    @JsonProperty("device-option") String deviceOption,
    List<Devices.Device> devices,
    String command,
    String tensorflow,
    Long seed,
    Long parameters,
    String corpus,
    List<CheckpointState.LayerMixer> mixers,
    String started,
    List<Resume> resumes,
    Cluster cluster) {

  /**
   * A data-parallel run: every worker's address, the task that wrote this record (0) and the global batch.
   */
  public record Cluster(List<String> workers, int task, @JsonProperty("batch-per-worker") int batchPerWorker,
      @JsonProperty("global-batch") int globalBatch) {}

  /** This record for a data-parallel run. */
  public RunMetadata withCluster(Cluster c) {
    return new RunMetadata(leviathan, java, device, modelRunsOn, deviceOption, devices, command, tensorflow, seed,
        parameters, corpus, mixers, started, resumes, c);
  }

  /** One {@code --resume}: when and with which command. */
  public record Resume(String at, String command) {}

  /** A run launched by {@code command} whose model is placed as {@code placement} says. */
  public static RunMetadata launched(String command, Devices.Placement placement) {
    return new RunMetadata(Versions.leviathan(), System.getProperty("java.version"),
        placement.modelDevice().toLowerCase(Locale.ROOT),
        placement.modelDevice() + " (" + placement.primary() + ")", placement.choice().toString(),
        placement.devices(), command, null, null, null, null, null, null, null, null);
  }

  /** A run launched by {@code command} on {@code device} ({@code cpu} or {@code gpu}), without a device listing. */
  public static RunMetadata launched(String command, String device) {
    return new RunMetadata(Versions.leviathan(), System.getProperty("java.version"), device, null, null, null,
        command, null, null, null, null, null, null, null, null);
  }

  /** The facts a starting run adds. */
  public RunMetadata started(String tensorflowVersion, long runSeed, long parameterCount, String corpusName,
      List<CheckpointState.LayerMixer> layerMixers, String at) {
    return new RunMetadata(leviathan, java, device, modelRunsOn, deviceOption, devices, command, tensorflowVersion,
        runSeed, parameterCount, corpusName, layerMixers, at, resumes, cluster);
  }

  /** This record with one more resume. */
  public RunMetadata resumed(String at, String resumeCommand) {
    List<Resume> all = new ArrayList<>(resumes == null ? List.of() : resumes);
    all.add(new Resume(at, resumeCommand == null ? "" : resumeCommand));
    return new RunMetadata(leviathan, java, device, modelRunsOn, deviceOption, devices, command, tensorflow, seed,
        parameters, corpus, mixers, started, List.copyOf(all), cluster);
  }

  /** The device the model runs on ({@code cpu} when not recorded). */
  public String deviceOrCpu() {
    return device == null ? "cpu" : device;
  }
}
