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
 * <p>The write protocol is one state machine per checkpoint {@code NAME}; one writer at a time is assumed
 * (the run lock, {@link RunLock}). The folders that may exist are
 * <pre>
 *   NAME/        the current checkpoint (complete and verified)
 *   NAME.tmp/    a new checkpoint being written
 *   NAME.prev/   the previous checkpoint, kept until the new one has been verified in place
 * </pre>
 * {@link #save}: (1) {@link #recover}; (2) write {@code NAME.tmp/} (variables, state, checksums), fsync its
 * files and the folder; (3) rename {@code NAME -> NAME.prev}; (4) rename {@code NAME.tmp -> NAME}, fsync
 * {@code checkpoints/}; (5) verify {@code NAME} against its checksums, then delete {@code NAME.prev} (if
 * the verification fails, {@code NAME.prev} is put back and the save fails).
 *
 * <p>{@link #recover} turns whatever a writer that died at any point left into the state after (1):
 * <pre>
 *   NAME.tmp/ present                  died in (2)       : deleted (NAME or NAME.prev is intact)
 *   NAME.prev/ present, NAME/ missing   died after (3)    : NAME.prev renamed back to NAME (reported)
 *   NAME.prev/ and NAME/ present        died in (5)       : NAME verified; kept (NAME.prev deleted), or
 *                                                           replaced by NAME.prev when corrupt (reported)
 *   .tmp-NAME-* / .old-NAME-* (older versions' names)    : deleted; an .old copy is only put back when
 *                                                           NAME is missing, the newest step wins (reported)
 * </pre>
 * Readers that hold no lock ({@code eval}, {@code sample}, {@code export}) never change the folder: when
 * {@code NAME/} is missing they read {@code NAME.prev/}, which by the protocol is a complete checkpoint.
 */
public final class Checkpoints {
  static final String STATE = "state.json";
  static final String CHECKSUMS = "checksums.sha256";
  static final String VARIABLES = "variables";
  static final String TMP = ".tmp";
  static final String PREV = ".prev";
  /** The checkpoints a run writes. */
  static final List<String> NAMES = List.of("last", "best");
  private static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

  private final Path root;

  public Checkpoints(Path runDir) {
    this.root = runDir.resolve(RunDirectory.CHECKPOINTS);
  }

  public Path root() {
    return root;
  }

  /** Writes checkpoint {@code name} ({@code last} or {@code best}) by the protocol above. */
  public Path save(String name, ModelRuntime runtime, CheckpointState state) {
    Path target = root.resolve(name);
    Path tmp = root.resolve(name + TMP);
    Path prev = root.resolve(name + PREV);
    try {
      Files.createDirectories(root);
      recover(name);
      Files.createDirectory(tmp);
      runtime.save(tmp.resolve(VARIABLES).toString());
      Files.writeString(tmp.resolve(STATE), JSON.writeValueAsString(state), StandardCharsets.UTF_8);
      writeChecksums(tmp);
      Durable.fsyncTree(tmp);
      if (Files.exists(target)) {
        move(target, prev);
      }
      move(tmp, target);
      Durable.fsyncDirectory(root);
      try {
        verify(target);
      } catch (CheckpointException e) {
        if (Files.exists(prev)) {
          deleteTree(target);
          move(prev, target);
          Durable.fsyncDirectory(root);
        }
        throw new CheckpointException("checkpoint '" + name + "' did not read back correctly after writing ("
            + e.getMessage() + "); the previous one was kept. Check the disk");
      }
      if (Files.exists(prev)) {
        deleteTree(prev);
        Durable.fsyncDirectory(root);
      }
      return target;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write checkpoint '" + name + "' in " + root + ": " + e.getMessage(), e);
    }
  }

  /**
   * Brings every checkpoint folder to a state of the protocol, cleaning up what a writer that died left;
   * only for the holder of the run lock. Returns one sentence per change worth telling the user.
   */
  public List<String> recover() {
    List<String> notes = new ArrayList<>();
    if (!Files.isDirectory(root)) {
      return notes;
    }
    for (String name : NAMES) {
      notes.addAll(recover(name));
    }
    return notes;
  }

  private List<String> recover(String name) {
    List<String> notes = new ArrayList<>();
    Path target = root.resolve(name);
    Path prev = root.resolve(name + PREV);
    try {
      deleteIfPresent(root.resolve(name + TMP));
      for (Path stale : list(".tmp-" + name + "-*")) {
        deleteTree(stale);
      }
      List<Path> olds = list(".old-" + name + "-*");
      if (!Files.exists(prev) && !Files.exists(target) && !olds.isEmpty()) {
        Path newest = newestIntact(olds);
        if (newest != null) {
          move(newest, target);
          notes.add("checkpoint '" + name + "' was missing and an interrupted write of an older Leviathan had set"
              + " copies aside; the newest intact one, " + describe(target) + ", is back in place");
        }
      }
      for (Path old : list(".old-" + name + "-*")) {
        deleteTree(old);
      }
      if (Files.exists(prev)) {
        if (!Files.exists(target)) {
          move(prev, target);
          notes.add("a write of checkpoint '" + name + "' was interrupted; its previous version, "
              + describe(target) + ", is back in place");
        } else if (intact(target)) {
          deleteTree(prev);
        } else {
          deleteTree(target);
          move(prev, target);
          notes.add("checkpoint '" + name + "' was left unverified by an interrupted write and is corrupt; its"
              + " previous version, " + describe(target) + ", is back in place");
        }
      }
      Durable.fsyncDirectory(root);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot clean up checkpoint '" + name + "' in " + root + ": " + e.getMessage(), e);
    }
    return notes;
  }

  /** Whether a complete checkpoint exists (a run has been saved here, possibly mid-replacement). */
  public boolean holdsRun() {
    if (!Files.isDirectory(root)) {
      return false;
    }
    for (String name : NAMES) {
      if (Files.isDirectory(root.resolve(name)) || Files.isDirectory(root.resolve(name + PREV))
          || !list(".old-" + name + "-*").isEmpty()) {
        return true;
      }
    }
    return false;
  }

  /**
   * The folder of checkpoint {@code name}: {@code NAME/}, or {@code NAME.prev/} when a write was interrupted
   * between its two renames. Changes nothing.
   */
  public Path resolve(String name) {
    Path target = root.resolve(name);
    Path prev = root.resolve(name + PREV);
    return !Files.isDirectory(target) && Files.isDirectory(prev) ? prev : target;
  }

  public boolean exists(String name) {
    return Files.isDirectory(resolve(name));
  }

  /**
   * The checkpoint folder {@code choice} names: {@code last}, {@code best}, or the path of a checkpoint
   * folder (relative to {@code workingDir}).
   */
  public Path locate(String choice, Path workingDir) {
    if (NAMES.contains(choice)) {
      return resolve(choice);
    }
    Path dir = workingDir.resolve(choice);
    if (!Files.isDirectory(dir)) {
      throw new CheckpointException("--checkpoint " + choice + " is neither last, best nor a checkpoint folder ("
          + dir + " does not exist); pass last, best or a folder such as RUN/checkpoints/best");
    }
    return dir;
  }

  /** "checkpoint 'last' (step 40, PATH)" or "checkpoint PATH (step 40)". */
  public static String describe(Path dir) {
    String step;
    try {
      step = "step " + JSON.readValue(dir.resolve(STATE).toFile(), CheckpointState.class).step();
    } catch (IOException | RuntimeException e) {
      step = "step unknown";
    }
    return "checkpoint '" + dir.getFileName() + "' (" + step + ", " + dir + ")";
  }

  private List<Path> list(String glob) {
    List<Path> out = new ArrayList<>();
    if (!Files.isDirectory(root)) {
      return out;
    }
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, glob)) {
      ds.forEach(out::add);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    out.sort(Comparator.comparing(Path::toString));
    return out;
  }

  private static boolean intact(Path dir) {
    try {
      verify(dir);
      return true;
    } catch (CheckpointException e) {
      return false;
    }
  }

  /** The intact folder with the highest step, or null. */
  private static Path newestIntact(List<Path> dirs) {
    Path best = null;
    long bestStep = Long.MIN_VALUE;
    for (Path d : dirs) {
      if (!intact(d)) {
        continue;
      }
      long step;
      try {
        step = JSON.readValue(d.resolve(STATE).toFile(), CheckpointState.class).step();
      } catch (IOException | RuntimeException e) {
        step = Long.MIN_VALUE + 1; // intact but of unknown step: used only when nothing better is there
      }
      if (step > bestStep) {
        bestStep = step;
        best = d;
      }
    }
    return best;
  }

  private static void deleteIfPresent(Path dir) throws IOException {
    if (Files.exists(dir)) {
      deleteTree(dir);
    }
  }

  /** Reads and verifies a checkpoint's state; fails with a one-line message when it is corrupt. */
  public CheckpointState read(String name) {
    if (!NAMES.contains(name)) {
      throw new CheckpointException("there is no checkpoint '" + name + "': a run has the checkpoints last and best;"
          + " pass --checkpoint last or --checkpoint best");
    }
    Path dir = resolve(name);
    if (!Files.isDirectory(dir)) {
      throw new CheckpointException("no checkpoint '" + name + "' in " + root
          + "; train first, or point --run/--out at a run directory that has one");
    }
    return read(dir);
  }

  /** Reads and verifies the checkpoint in folder {@code dir}. */
  public static CheckpointState read(Path dir) {
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
    return variablesPrefix(resolve(name));
  }

  /** Prefix to pass to {@code Session.restore} for the checkpoint in folder {@code dir}. */
  public static String variablesPrefix(Path dir) {
    return dir.resolve(VARIABLES).toString();
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
    String how = "; it is corrupt or truncated: use the other checkpoint (train --resume --checkpoint best, or"
        + " --checkpoint best for eval/sample), another run, or start a fresh run";
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
