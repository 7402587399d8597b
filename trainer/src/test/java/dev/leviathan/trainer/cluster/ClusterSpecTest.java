package dev.leviathan.trainer.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.trainer.ConfigException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** TF_CONFIG and --cluster/--task parsing, and a one-line error for every way they can be wrong. */
class ClusterSpecTest {
  private static final String TWO = "{\"cluster\": {\"worker\": [\"127.0.0.1:2222\", \"127.0.0.1:2223\"]}, ";

  private static String error(Runnable parse) {
    ConfigException e = assertThrows(ConfigException.class, parse::run);
    assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    return e.getMessage();
  }

  private static void assertStarts(String prefix, String message) {
    assertTrue(message.startsWith(prefix), message);
  }

  @Test
  void readsTfConfigAsTensorFlowToolingWritesIt() {
    ClusterSpec s = ClusterSpec.parseTfConfig(TWO + "\"task\": {\"type\": \"worker\", \"index\": 1}}");
    assertEquals(List.of(new HostPort("127.0.0.1", 2222), new HostPort("127.0.0.1", 2223)), s.workers());
    assertEquals(1, s.task());
    assertEquals(new HostPort("127.0.0.1", 2223), s.self());
    assertEquals("grpc://127.0.0.1:2223", s.target());
    assertEquals("/job:worker/replica:0/task:1/device:CPU:0", s.cpuDevice());
    assertEquals("worker 1 of 2 (127.0.0.1:2223); cluster 127.0.0.1:2222,127.0.0.1:2223", s.describe());
    assertEquals(false, s.isChief());
    assertEquals(s, ClusterSpec.parseTfConfig(s.tfConfig(1)));
    assertEquals(0, ClusterSpec.parseTfConfig(s.tfConfig(0)).task());
  }

  @Test
  void readsFlagsIncludingIpv6() {
    ClusterSpec s = ClusterSpec.parseFlags("node-a:5000, [::1]:5001", "0");
    assertEquals(List.of(new HostPort("node-a", 5000), new HostPort("::1", 5001)), s.workers());
    assertEquals("[::1]:5001", s.workers().get(1).toString());
    assertTrue(s.isChief());
  }

  @Test
  void noClusterMeansOneProcessAndBothSourcesAreRefused() {
    assertTrue(ClusterSpec.resolve(null, null, null).isEmpty());
    assertTrue(ClusterSpec.resolve("  ", null, null).isEmpty());
    assertEquals(1, ClusterSpec.resolve(null, "a:1,b:2", "1").orElseThrow().task());
    assertStarts("both TF_CONFIG and --cluster/--task are set", error(() ->
        ClusterSpec.resolve(TWO + "\"task\": {\"type\": \"worker\", \"index\": 0}}", "a:1", "0")));
  }

  @Test
  void badJson() {
    assertStarts("TF_CONFIG is not valid JSON (", error(() -> ClusterSpec.parseTfConfig("{\"cluster\": ")));
    assertStarts("TF_CONFIG is not a JSON object", error(() -> ClusterSpec.parseTfConfig("[1, 2]")));
  }

  @Test
  void missingKeys() {
    assertStarts("TF_CONFIG has no \"cluster\"",
        error(() -> ClusterSpec.parseTfConfig("{\"task\": {\"type\": \"worker\", \"index\": 0}}")));
    assertStarts("TF_CONFIG cluster has no \"worker\"",
        error(() -> ClusterSpec.parseTfConfig("{\"cluster\": {}, \"task\": {\"type\": \"worker\", \"index\": 0}}")));
    assertStarts("TF_CONFIG has no \"task\"", error(() -> ClusterSpec.parseTfConfig(TWO + "\"x\": 1}")));
    assertStarts("TF_CONFIG task has no \"type\"",
        error(() -> ClusterSpec.parseTfConfig(TWO + "\"task\": {\"index\": 0}}")));
    assertStarts("TF_CONFIG task has no \"index\"",
        error(() -> ClusterSpec.parseTfConfig(TWO + "\"task\": {\"type\": \"worker\"}}")));
    assertStarts("TF_CONFIG cluster.worker must be a non-empty list", error(() ->
        ClusterSpec.parseTfConfig("{\"cluster\": {\"worker\": []}, \"task\": {\"type\": \"worker\", \"index\": 0}}")));
  }

  @Test
  void onlyWorkerJobsAndTasks() {
    assertStarts("TF_CONFIG task.type is 'chief'; only 'worker' is supported",
        error(() -> ClusterSpec.parseTfConfig(TWO + "\"task\": {\"type\": \"chief\", \"index\": 0}}")));
    assertStarts("TF_CONFIG cluster has job 'ps'; only 'worker' is supported", error(() -> ClusterSpec.parseTfConfig(
        "{\"cluster\": {\"worker\": [\"a:1\"], \"ps\": [\"b:2\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}")));
  }

  @Test
  void indexOutOfRangeOrNotAnInteger() {
    assertEquals("TF_CONFIG task.index 2 is out of range: cluster.worker has 2 address(es), so use 0..1",
        error(() -> ClusterSpec.parseTfConfig(TWO + "\"task\": {\"type\": \"worker\", \"index\": 2}}")));
    assertStarts("TF_CONFIG task.index -1 is out of range",
        error(() -> ClusterSpec.parseTfConfig(TWO + "\"task\": {\"type\": \"worker\", \"index\": -1}}")));
    assertStarts("TF_CONFIG task.index is \"1\", not an integer",
        error(() -> ClusterSpec.parseTfConfig(TWO + "\"task\": {\"type\": \"worker\", \"index\": \"1\"}}")));
    assertStarts("TF_CONFIG task.index is 0.5, not an integer",
        error(() -> ClusterSpec.parseTfConfig(TWO + "\"task\": {\"type\": \"worker\", \"index\": 0.5}}")));
    assertEquals("task index 3 is out of range: the cluster has 2 worker(s), so use 0..1",
        error(() -> ClusterSpec.parseFlags("a:1,b:2", "3")));
    assertEquals("--task 'one' is not an integer; use 0..1", error(() -> ClusterSpec.parseFlags("a:1,b:2", "one")));
  }

  @Test
  void badHostPort() {
    for (String bad : List.of("127.0.0.1", "127.0.0.1:", ":2222", "host:0", "host:65536", "host:http", "::1:2222",
        "a b:1")) {
      assertStarts("TF_CONFIG cluster.worker[1]: '" + bad + "' is not host:port", error(() -> ClusterSpec.parseTfConfig(
          "{\"cluster\": {\"worker\": [\"a:1\", \"" + bad + "\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}")));
    }
    assertStarts("TF_CONFIG cluster.worker[0] is 2222, not a \"host:port\" string", error(() ->
        ClusterSpec.parseTfConfig("{\"cluster\": {\"worker\": [2222]}, \"task\": {\"type\": \"worker\", \"index\": 0}}")));
    assertStarts("--cluster entry 2: 'c' is not host:port", error(() -> ClusterSpec.parseFlags("a:1,b:2,c", "0")));
    assertStarts("--cluster entry 1: '' is not host:port", error(() -> ClusterSpec.parseFlags("a:1,", "0")));
  }

  @Test
  void duplicateAddresses() {
    assertEquals("workers 0 and 2 have the same address 127.0.0.1:2222; give every worker its own host:port",
        error(() -> ClusterSpec.parseFlags("127.0.0.1:2222,127.0.0.1:2223,127.0.0.1:2222", "1")));
    assertStarts("workers 0 and 1 have the same address", error(() -> ClusterSpec.parseTfConfig(
        "{\"cluster\": {\"worker\": [\"h:1\", \"h:1\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}")));
  }

  @Test
  void flagsNeedEachOther() {
    assertStarts("--task needs --cluster", error(() -> ClusterSpec.resolve(null, null, "0")));
    assertStarts("--cluster needs --task", error(() -> ClusterSpec.resolve(null, "a:1", null)));
  }
}
