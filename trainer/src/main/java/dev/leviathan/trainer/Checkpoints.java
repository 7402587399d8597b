package dev.leviathan.trainer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Checkpoints of a run under {@code RUN/checkpoints/}: {@code last} and {@code best}, each a folder with
 * TensorFlow's variable files ({@code variables.*}), {@code state.json} and {@code checksums.sha256}.
 *
 * <p>A checkpoint is written into a temporary folder and moved into place with an atomic rename; the
 * previous one is first moved aside and deleted only after the new one is in place, so a process that
 * dies mid-write leaves the previous checkpoint valid (and {@link #resolve} finds it).
 */
public final class Checkpoints {
  static final String STATE = "state.json";
  static final String CHECKSUMS = "checksums.sha256";
  static final String VARIABLES = "variables";
  private static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  private final Path root;

  public Checkpoints(Path runDir) {
    this.root = runDir.resolve(RunDirectory.CHECKPOINTS);
  }

  public Path root() {
    return root;
  }

  /** Writes a checkpoint named {@code name} ({@code last} or {@code best}). */
  public Path save(String name, ModelRuntime runtime, CheckpointState state) {
    try {
      Files.createDirectories(root);
      resolve(name);
      try (DirectoryStream<Path> stale = Files.newDirectoryStream(root, ".tmp-" + name + "-*")) {
        for (Path p : stale) {
          deleteTree(p); // left by a writer that died before its rename
        }
      }
      Path tmp = Files.createTempDirectory(root, ".tmp-" + name + "-");
      runtime.save(tmp.resolve(VARIABLES).toString());
      Files.writeString(tmp.resolve(STATE), JSON.writeValueAsString(state), StandardCharsets.UTF_8);
      writeChecksums(tmp);
      Path target = root.resolve(name);
      // Move the previous checkpoint aside, the new one in, then delete the previous one: at every
      // moment a complete checkpoint exists (resolve() puts a moved-aside one back after a crash).
      Path old = null;
      if (Files.exists(target)) {
        old = root.resolve(".old-" + name + "-" + System.nanoTime());
        move(target, old);
      }
      move(tmp, target);
      if (old != null) {
        deleteTree(old);
      }
      return target;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write checkpoint '" + name + "' in " + root + ": " + e.getMessage(), e);
    }
  }

  /**
   * The folder of checkpoint {@code name}; if the process died between moving the old one aside and
   * moving the new one in, the old one is put back first.
   */
  public Path resolve(String name) {
    Path target = root.resolve(name);
    if (!Files.isDirectory(target) && Files.isDirectory(root)) {
      try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, ".old-" + name + "-*")) {
        List<Path> olds = new ArrayList<>();
        ds.forEach(olds::add);
        olds.sort(Comparator.comparing(Path::toString));
        if (!olds.isEmpty()) {
          move(olds.get(olds.size() - 1), target);
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return target;
  }

  public boolean exists(String name) {
    return Files.isDirectory(resolve(name));
  }

  /** Reads and verifies a checkpoint's state; fails with a one-line message when it is corrupt. */
  public CheckpointState read(String name) {
    Path dir = resolve(name);
    if (!Files.isDirectory(dir)) {
      throw new CheckpointException("no checkpoint '" + name + "' in " + root
          + "; train first, or point --run/--out at a run directory that has one");
    }
    verify(dir);
    try {
      CheckpointState s = JSON.readValue(dir.resolve(STATE).toFile(), CheckpointState.class);
      if (s.format() != CheckpointState.FORMAT) {
        throw new CheckpointException("checkpoint " + dir + " has format " + s.format() + ", this Leviathan reads format "
            + CheckpointState.FORMAT);
      }
      return s;
    } catch (IOException e) {
      throw new CheckpointException("checkpoint " + dir + " has an unreadable " + STATE + " (" + e.getMessage().lines().findFirst().orElse("")
          + "); use another checkpoint or start a fresh run");
    }
  }

  /** Prefix to pass to {@code Session.restore}. */
  public String variablesPrefix(String name) {
    return resolve(name).resolve(VARIABLES).toString();
  }

  /** Bytes of the variable files of checkpoint {@code name} (parameters and optimiser moments); 0 if none. */
  public long variablesBytes(String name) {
    try (Stream<Path> s = Files.list(resolve(name))) {
      long sum = 0;
      for (Path p : s.filter(p -> p.getFileName().toString().startsWith(VARIABLES + ".data")).toList()) {
        sum += Files.size(p);
      }
      return sum;
    } catch (IOException e) {
      return 0;
    }
  }

  static void writeChecksums(Path dir) throws IOException {
    Map<String, String> sums = new LinkedHashMap<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.sorted().toList()) {
        if (!f.getFileName().toString().equals(CHECKSUMS)) {
          sums.put(f.getFileName().toString(), sha256(f));
        }
      }
    }
    StringBuilder sb = new StringBuilder();
    sums.forEach((f, h) -> sb.append(h).append("  ").append(f).append('\n'));
    Files.writeString(dir.resolve(CHECKSUMS), sb.toString(), StandardCharsets.UTF_8);
  }

  static void verify(Path dir) {
    Path sums = dir.resolve(CHECKSUMS);
    String how = "; it is corrupt or truncated: use checkpoints/best, another run, or start a fresh run";
    if (!Files.isRegularFile(sums)) {
      throw new CheckpointException("checkpoint " + dir + " has no " + CHECKSUMS + how);
    }
    try {
      List<String> lines = Files.readAllLines(sums, StandardCharsets.UTF_8);
      boolean sawState = false;
      boolean sawIndex = false;
      for (String line : lines) {
        if (line.isBlank()) {
          continue;
        }
        int sep = line.indexOf("  ");
        if (sep != 64) {
          throw new CheckpointException("checkpoint " + dir + " has a malformed " + CHECKSUMS + how);
        }
        String file = line.substring(sep + 2);
        Path f = dir.resolve(file);
        if (!Files.isRegularFile(f)) {
          throw new CheckpointException("checkpoint " + dir + " is missing " + file + how);
        }
        if (!sha256(f).equals(line.substring(0, sep))) {
          throw new CheckpointException("checkpoint " + dir + ": " + file + " does not match its checksum" + how);
        }
        sawState |= file.equals(STATE);
        sawIndex |= file.equals(VARIABLES + ".index");
      }
      if (!sawState || !sawIndex) {
        throw new CheckpointException("checkpoint " + dir + " is incomplete (no " + (sawState ? VARIABLES + ".index" : STATE) + ")" + how);
      }
    } catch (IOException e) {
      throw new CheckpointException("cannot read checkpoint " + dir + ": " + e.getMessage());
    }
  }

  static String sha256(Path f) throws IOException {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      try (var in = Files.newInputStream(f)) {
        byte[] buf = new byte[1 << 16];
        int n;
        while ((n = in.read(buf)) > 0) {
          md.update(buf, 0, n);
        }
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static void move(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(from, to);
    }
  }

  static void deleteTree(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
