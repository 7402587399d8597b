package dev.leviathan.trainer.cluster;

import dev.leviathan.trainer.ConfigException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;

/**
 * One worker address, {@code host:port} (IPv6 hosts in brackets: {@code [::1]:2222}).
 *
 * @param host a host name or IP literal (without brackets)
 * @param port 1..65535
 */
public record HostPort(String host, int port) {
  /**
   * Parses {@code host:port}.
   *
   * @param text the address
   * @param where what the address belongs to, for the error ("TF_CONFIG cluster.worker[1]")
   * @throws ConfigException one line naming {@code where}, the text and the accepted form
   */
  public static HostPort parse(String text, String where) {
    String t = text == null ? "" : text.strip();
    int colon = t.lastIndexOf(':');
    String host = colon < 0 ? "" : t.substring(0, colon);
    String port = colon < 0 ? "" : t.substring(colon + 1);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    } else if (host.contains(":")) {
      host = "";
    }
    int p = -1;
    if (port.matches("[0-9]{1,5}")) {
      p = Integer.parseInt(port);
    }
    if (host.isEmpty() || host.contains(" ") || p < 1 || p > 65535) {
      throw new ConfigException(where + ": '" + text + "' is not host:port with a port in 1..65535"
          + " (example: 127.0.0.1:2222, [::1]:2222)");
    }
    return new HostPort(host, p);
  }

  @Override
  public String toString() {
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }

  /** {@code n} distinct ports that were free on the loopback interface a moment ago. */
  public static int[] freeLoopbackPorts(int n) throws IOException {
    List<ServerSocket> held = new ArrayList<>();
    try {
      int[] ports = new int[n];
      for (int i = 0; i < n; i++) {
        ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        held.add(s);
        ports[i] = s.getLocalPort();
      }
      return ports;
    } finally {
      for (ServerSocket s : held) {
        s.close();
      }
    }
  }
}
