package dev.leviathan.trainer.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.leviathan.trainer.ConfigException;
import java.net.ServerSocket;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.ServerDef;

/** The server definition and session options a worker uses, and the port check before the server starts. */
class WorkerServerTest {
  private static final ClusterSpec SPEC = ClusterSpec.parseFlags("127.0.0.1:2222,127.0.0.1:2223", "1");

  @Test
  void sessionOptionsNameTheLeaderAndSeeOnlyThisTask() {
    ConfigProto base = ConfigProto.newBuilder().setIntraOpParallelismThreads(1).addDeviceFilters("/job:x").build();
    ConfigProto c = WorkerServer.sessionConfig(SPEC, base);
    assertEquals("/job:worker/replica:0/task:0", c.getExperimental().getCollectiveGroupLeader());
    assertEquals(List.of("/job:worker/task:1"), c.getDeviceFiltersList());
    assertEquals(1, c.getIntraOpParallelismThreads());
  }

  @Test
  void serverDefListsEveryWorkerOverGrpc() {
    ServerDef d = WorkerServer.serverDef(SPEC, WorkerServer.sessionConfig(SPEC, ConfigProto.getDefaultInstance()));
    assertEquals("worker", d.getJobName());
    assertEquals(1, d.getTaskIndex());
    assertEquals("grpc", d.getProtocol());
    assertEquals(1, d.getCluster().getJobCount());
    assertEquals("worker", d.getCluster().getJob(0).getName());
    assertEquals(Map.of(0, "127.0.0.1:2222", 1, "127.0.0.1:2223"), d.getCluster().getJob(0).getTasksMap());
    assertEquals("/job:worker/replica:0/task:0",
        d.getDefaultSessionConfig().getExperimental().getCollectiveGroupLeader());
    assertEquals(0, d.getDefaultSessionConfig().getDeviceFiltersCount());
  }

  @Test
  void aPortInUseIsRefusedInOneLine() throws Exception {
    try (ServerSocket busy = new ServerSocket(0)) {
      ClusterSpec spec = ClusterSpec.parseFlags("127.0.0.1:" + busy.getLocalPort() + ",127.0.0.1:1", "0");
      ConfigException e = assertThrows(ConfigException.class, () -> WorkerServer.requirePortFree(spec));
      assertEquals("worker 0 (127.0.0.1:" + busy.getLocalPort() + "): port " + busy.getLocalPort()
          + " is in use on this machine; stop what listens there or give this worker another port", e.getMessage());
    }
  }
}
