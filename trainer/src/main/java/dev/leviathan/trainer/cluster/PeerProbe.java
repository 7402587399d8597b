package dev.leviathan.trainer.cluster;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Which other workers no longer accept connections: a worker whose process has ended refuses them
 * at once, so after a failed collective this names the worker that died. A worker that hangs but
 * still runs keeps accepting, and is not named.
 */
final class PeerProbe {
  private PeerProbe() {}

  /** The task indexes, other than this one, whose address refuses a TCP connection within {@code wait}. */
  static List<Integer> unreachable(ClusterSpec spec, Duration wait) {
    List<Integer> dead = new ArrayList<>();
    for (int i = 0; i < spec.size(); i++) {
      if (i == spec.task()) {
        continue;
      }
      HostPort peer = spec.workers().get(i);
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress(peer.host(), peer.port()), (int) wait.toMillis());
      } catch (IOException e) {
        dead.add(i);
      }
    }
    return dead;
  }
}
