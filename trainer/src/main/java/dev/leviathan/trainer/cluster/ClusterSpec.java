package dev.leviathan.trainer.cluster;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.leviathan.trainer.ConfigException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Which workers train together and which one this process is, the way the TensorFlow ecosystem
 * states it: the {@code TF_CONFIG} environment variable (set by MultiWorkerMirroredStrategy tooling
 * and Kubeflow's TFJob operator),
 * {@code {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}},
 * or the flags {@code --cluster host:port,... --task i}. There is one job, {@code worker}; task 0
 * leads the collectives and is the one that writes.
 *
 * @param workers every worker's address, in task order
 * @param task this process's index into {@code workers}
 */
public record ClusterSpec(List<HostPort> workers, int task) {
  /** The environment variable TensorFlow's tooling sets. */
  public static final String TF_CONFIG = "TF_CONFIG";
  /** The only job name: every process is a worker. */
  public static final String JOB = "worker";

  private static final String FORM =
      "expected {\"cluster\": {\"worker\": [\"host:port\", ...]}, \"task\": {\"type\": \"worker\", \"index\": i}}";
  private static final JsonMapper MAPPER = JsonMapper.builder().build();

  public ClusterSpec {
    workers = List.copyOf(workers);
    if (workers.isEmpty()) {
      throw new ConfigException("a cluster needs at least one worker address");
    }
    Map<String, Integer> seen = new HashMap<>();
    for (int i = 0; i < workers.size(); i++) {
      Integer first = seen.putIfAbsent(workers.get(i).toString(), i);
      if (first != null) {
        throw new ConfigException("workers " + first + " and " + i + " have the same address "
            + workers.get(i) + "; give every worker its own host:port");
      }
    }
    if (task < 0 || task >= workers.size()) {
      throw new ConfigException("task index " + task + " is out of range: the cluster has " + workers.size()
          + " worker(s), so use 0.." + (workers.size() - 1));
    }
  }

  /**
   * The cluster this process belongs to, from {@code TF_CONFIG} or the flags; empty when neither is
   * given (a single process, as without a cluster).
   *
   * @param tfConfig the value of {@code TF_CONFIG}, or null
   * @param clusterFlag the value of {@code --cluster}, or null
   * @param taskFlag the value of {@code --task}, or null
   */
  public static Optional<ClusterSpec> resolve(String tfConfig, String clusterFlag, String taskFlag) {
    boolean env = tfConfig != null && !tfConfig.isBlank();
    boolean flags = clusterFlag != null || taskFlag != null;
    if (env && flags) {
      throw new ConfigException("both TF_CONFIG and --cluster/--task are set; unset TF_CONFIG or drop the flags");
    }
    if (env) {
      return Optional.of(parseTfConfig(tfConfig));
    }
    if (flags) {
      return Optional.of(parseFlags(clusterFlag, taskFlag));
    }
    return Optional.empty();
  }

  /** Parses {@code --cluster host:port,host:port,... --task i}. */
  public static ClusterSpec parseFlags(String cluster, String task) {
    if (cluster == null || cluster.isBlank()) {
      throw new ConfigException("--task needs --cluster host:port,host:port,... (every worker's address, task 0 first)");
    }
    if (task == null || task.isBlank()) {
      throw new ConfigException("--cluster needs --task i (this process's index into the --cluster list, from 0)");
    }
    List<HostPort> workers = new ArrayList<>();
    String[] parts = cluster.split(",", -1);
    for (int i = 0; i < parts.length; i++) {
      workers.add(HostPort.parse(parts[i], "--cluster entry " + i));
    }
    int index;
    try {
      index = Integer.parseInt(task.strip());
    } catch (NumberFormatException e) {
      throw new ConfigException("--task '" + task + "' is not an integer; use 0.." + (workers.size() - 1));
    }
    return new ClusterSpec(workers, index);
  }

  /** Parses a {@code TF_CONFIG} value. */
  public static ClusterSpec parseTfConfig(String json) {
    JsonNode root;
    try {
      root = MAPPER.readTree(json);
    } catch (JsonProcessingException e) {
      String why = e.getOriginalMessage().lines().findFirst().orElse("");
      throw new ConfigException("TF_CONFIG is not valid JSON (" + why + " at line "
          + e.getLocation().getLineNr() + " column " + e.getLocation().getColumnNr() + "); " + FORM);
    }
    if (root == null || !root.isObject()) {
      throw new ConfigException("TF_CONFIG is not a JSON object; " + FORM);
    }
    JsonNode cluster = require(root, "cluster", "TF_CONFIG");
    if (!cluster.isObject()) {
      throw new ConfigException("TF_CONFIG cluster is not an object; " + FORM);
    }
    for (Iterator<String> jobs = cluster.fieldNames(); jobs.hasNext(); ) {
      String job = jobs.next();
      if (!job.equals(JOB)) {
        throw new ConfigException("TF_CONFIG cluster has job '" + job + "'; only '" + JOB
            + "' is supported (worker 0 acts as chief), so list every process under \"worker\"");
      }
    }
    JsonNode list = require(cluster, JOB, "TF_CONFIG cluster");
    if (!list.isArray() || list.isEmpty()) {
      throw new ConfigException("TF_CONFIG cluster.worker must be a non-empty list of \"host:port\" strings");
    }
    List<HostPort> workers = new ArrayList<>();
    for (int i = 0; i < list.size(); i++) {
      String where = "TF_CONFIG cluster.worker[" + i + "]";
      if (!list.get(i).isTextual()) {
        throw new ConfigException(where + " is " + list.get(i) + ", not a \"host:port\" string");
      }
      workers.add(HostPort.parse(list.get(i).asText(), where));
    }
    JsonNode task = require(root, "task", "TF_CONFIG");
    String type = require(task, "type", "TF_CONFIG task").asText();
    if (!type.equals(JOB)) {
      throw new ConfigException("TF_CONFIG task.type is '" + type + "'; only '" + JOB + "' is supported");
    }
    JsonNode index = require(task, "index", "TF_CONFIG task");
    if (!index.isIntegralNumber() || !index.canConvertToInt()) {
      throw new ConfigException("TF_CONFIG task.index is " + index + ", not an integer; use 0.." + (workers.size() - 1));
    }
    int i = index.intValue();
    if (i < 0 || i >= workers.size()) {
      throw new ConfigException("TF_CONFIG task.index " + i + " is out of range: cluster.worker has "
          + workers.size() + " address(es), so use 0.." + (workers.size() - 1));
    }
    return new ClusterSpec(workers, i);
  }

  private static JsonNode require(JsonNode parent, String key, String where) {
    JsonNode n = parent.get(key);
    if (n == null || n.isNull()) {
      throw new ConfigException(where + " has no \"" + key + "\"; " + FORM);
    }
    return n;
  }

  /** The {@code TF_CONFIG} value for worker {@code index} of this cluster. */
  public String tfConfig(int index) {
    ObjectNode root = JsonNodeFactory.instance.objectNode();
    ArrayNode list = root.putObject("cluster").putArray(JOB);
    workers.forEach(w -> list.add(w.toString()));
    root.putObject("task").put("type", JOB).put("index", index);
    return root.toString();
  }

  public int size() {
    return workers.size();
  }

  /** This process's address. */
  public HostPort self() {
    return workers.get(task);
  }

  /** Whether this process is task 0: it leads the collectives and alone writes files. */
  public boolean isChief() {
    return task == 0;
  }

  /** {@code /job:worker/replica:0/task:i}. */
  public static String taskName(int index) {
    return "/job:" + JOB + "/replica:0/task:" + index;
  }

  /** This worker's CPU: {@code /job:worker/replica:0/task:i/device:CPU:0}. */
  public String cpuDevice() {
    return taskName(task) + "/device:CPU:0";
  }

  /** The session target of this worker's in-process server: {@code grpc://host:port}. */
  public String target() {
    return "grpc://" + self();
  }

  /** {@code worker 1 (127.0.0.1:2223)}. */
  public String describe(int index) {
    return "worker " + index + " (" + workers.get(index) + ")";
  }

  /** {@code worker 1 of 2 (127.0.0.1:2223); cluster 127.0.0.1:2222,127.0.0.1:2223}. */
  public String describe() {
    return "worker " + task + " of " + size() + " (" + self() + "); cluster "
        + workers.stream().map(HostPort::toString).collect(Collectors.joining(","));
  }

  /** For run records. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("workers", workers.stream().map(HostPort::toString).toList());
    m.put("task", task);
    return m;
  }
}
