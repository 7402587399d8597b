package dev.leviathan.trainer.cluster;

import dev.leviathan.trainer.ConfigException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import org.tensorflow.Graph;
import org.tensorflow.RemoteSessions;
import org.tensorflow.Server;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TensorFlowException;
import org.tensorflow.proto.ClusterDef;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.JobDef;
import org.tensorflow.proto.ServerDef;

/**
 * This process's TensorFlow gRPC server (job {@code worker}, task {@code i}) and the sessions that
 * run graphs on it.
 *
 * <p>Every worker starts one server; task 0's is the collective group leader. A session opened with
 * {@link #session} runs on {@code grpc://self} and sees only this task's devices (device filter
 * {@code /job:worker/task:i}), so unplaced operations run locally and only collective operations
 * talk to the other workers. TensorFlow cannot stop a server ({@code Server.stop()} is
 * unimplemented): it lives until the process exits. It listens on all interfaces, without
 * authentication: run it only on a trusted network.
 */
public final class WorkerServer {
  private final ClusterSpec spec;
  private final ConfigProto sessionConfig;
  /** Held for the life of this object; TensorFlow cannot stop it, it ends with the process. */
  private final Server server;

  private WorkerServer(ClusterSpec spec, ConfigProto sessionConfig, Server server) {
    this.spec = spec;
    this.sessionConfig = sessionConfig;
    this.server = server;
  }

  /**
   * Starts this worker's server.
   *
   * @param spec the cluster and this process's task
   * @param base the session options the model wants (threads); the cluster settings are added to them
   * @throws ConfigException one line when this worker's port is already in use
   */
  public static WorkerServer start(ClusterSpec spec, ConfigProto base) {
    requirePortFree(spec);
    ConfigProto config = sessionConfig(spec, base);
    try {
      Server server = new Server(serverDef(spec, config));
      server.start();
      return new WorkerServer(spec, config, server);
    } catch (TensorFlowException e) {
      throw new ConfigException(spec.describe(spec.task()) + ": TensorFlow could not start its server ("
          + e.getMessage().lines().findFirst().orElse("") + ")");
    }
  }

  /** The session options of every session on this worker: {@code base} plus leader and device filter. */
  static ConfigProto sessionConfig(ClusterSpec spec, ConfigProto base) {
    ConfigProto.Builder b = base.toBuilder();
    b.getExperimentalBuilder().setCollectiveGroupLeader(ClusterSpec.taskName(0));
    b.clearDeviceFilters().addDeviceFilters("/job:" + ClusterSpec.JOB + "/task:" + spec.task());
    return b.build();
  }

  /** Job {@code worker} with every task's address, protocol {@code grpc}, this task's index. */
  static ServerDef serverDef(ClusterSpec spec, ConfigProto sessionConfig) {
    JobDef.Builder job = JobDef.newBuilder().setName(ClusterSpec.JOB);
    for (int i = 0; i < spec.size(); i++) {
      job.putTasks(i, spec.workers().get(i).toString());
    }
    return ServerDef.newBuilder()
        .setCluster(ClusterDef.newBuilder().addJob(job))
        .setJobName(ClusterSpec.JOB)
        .setTaskIndex(spec.task())
        .setProtocol("grpc")
        .setDefaultSessionConfig(sessionConfig.toBuilder().clearDeviceFilters())
        .build();
  }

  /**
   * Fails in one line when this worker's port cannot be bound (TensorFlow's gRPC server binds it on
   * every interface, so the check does too).
   */
  static void requirePortFree(ClusterSpec spec) {
    int port = spec.self().port();
    try (ServerSocket probe = new ServerSocket()) {
      probe.bind(new InetSocketAddress(port));
    } catch (IOException e) {
      throw new ConfigException(spec.describe(spec.task()) + ": port " + port
          + " is in use on this machine; stop what listens there or give this worker another port");
    }
  }

  /**
   * A session running {@code graph} on this worker's server. Variables are not initialised for you:
   * call {@link Session#initialize()} before the first run.
   */
  public Session session(Graph graph) {
    return RemoteSessions.open(graph, spec.target(), sessionConfig);
  }

  public ClusterSpec spec() {
    return spec;
  }
}
