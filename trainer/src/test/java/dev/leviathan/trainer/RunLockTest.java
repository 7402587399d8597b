package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunLockTest {
  @TempDir Path dir;

  @Test
  void aSecondHolderIsRefusedWithTheFirstOnesPidAndHost() {
    Path run = dir.resolve("run");
    try (RunLock first = RunLock.acquire(run, "leviathan train --out run", m -> {})) {
      RunLock.HeldException e = assertThrows(RunLock.HeldException.class,
          () -> RunLock.acquire(run, "leviathan train --resume", m -> {}));
      assertTrue(e.getMessage().contains("is in use by process " + ProcessHandle.current().pid() + " on "
          + RunLock.hostName()) && e.getMessage().contains("leviathan train --out run"), e.getMessage());
    }
    try (RunLock again = RunLock.acquire(run, "x", m -> {})) {
      // released on close
    }
  }

  /** Holds the lock of the folder in args[0] in a separate JVM until its stdin closes. */
  public static final class Holder {
    public static void main(String[] args) throws Exception {
      try (RunLock lock = RunLock.acquire(Path.of(args[0]), "holder process", m -> {})) {
        System.out.println("locked");
        System.out.flush();
        System.in.read();
      }
    }
  }

  @Test
  void anotherProcessIsRefusedWhileItHoldsTheLockAndItsLockIsTakenOverAfterAKill() throws Exception {
    Path run = dir.resolve("run");
    String java = ProcessHandle.current().info().command().orElse("java");
    Process holder = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), Holder.class.getName(),
        run.toString()).redirectErrorStream(true).start();
    try {
      var out = new java.io.BufferedReader(new java.io.InputStreamReader(holder.getInputStream()));
      assertEquals("locked", out.readLine());
      RunLock.HeldException e = assertThrows(RunLock.HeldException.class, () -> RunLock.acquire(run, "me", m -> {}));
      assertTrue(e.getMessage().contains("in use by process " + holder.pid() + " on " + RunLock.hostName())
          && e.getMessage().contains("holder process"), e.getMessage());
    } finally {
      holder.destroyForcibly(); // kill -9: the holder cannot clean up
      holder.waitFor();
    }
    List<String> notes = new ArrayList<>();
    try (RunLock lock = RunLock.acquire(run, "me", notes::add)) {
      assertEquals(1, notes.size(), notes.toString());
      assertTrue(notes.get(0).contains("process " + holder.pid()) && notes.get(0).contains("is no longer running"),
          notes.get(0));
    }
  }

  @Test
  void aLockLeftByADeadProcessIsTakenOverWithANote() throws Exception {
    Path run = dir.resolve("run");
    Files.createDirectories(run);
    Process p = new ProcessBuilder("true").start();
    p.waitFor();
    long deadPid = p.pid();
    Files.writeString(run.resolve(RunLock.FILE), deadPid + " " + RunLock.hostName() + " 2026-01-01T00:00:00Z train\n");
    List<String> notes = new ArrayList<>();
    try (RunLock lock = RunLock.acquire(run, "leviathan train", notes::add)) {
      assertEquals(1, notes.size(), notes.toString());
      assertTrue(notes.get(0).contains("process " + deadPid) && notes.get(0).contains("is no longer running"),
          notes.get(0));
      assertTrue(Files.readString(run.resolve(RunLock.FILE)).startsWith(ProcessHandle.current().pid() + " "));
    }
    assertEquals("", Files.readString(run.resolve(RunLock.FILE)), "released: no holder");
  }
}
