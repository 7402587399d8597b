package dev.leviathan.core.plugin;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs plugin code that must finish in bounded time on a daemon thread of its own, and waits for it at
 * most a given time. Java cannot stop a thread that hangs, in a class initialiser least of all: on a
 * timeout the thread is interrupted (which ends a sleep or a wait) and otherwise left behind; being a
 * daemon, it does not keep the process alive. The caller must then never touch what that code was
 * initialising, or it would wait on the same class initialisation lock.
 */
final class TimeLimit {
  private TimeLimit() {}

  /**
   * The result of {@code body}.
   *
   * @throws TimeoutException when it did not finish within {@code limit}
   * @throws ExecutionException with whatever it threw, errors included, as the cause
   */
  static <T> T run(Duration limit, String threadName, Callable<T> body) throws TimeoutException, ExecutionException {
    FutureTask<T> task = new FutureTask<>(body);
    Thread thread = new Thread(task, threadName);
    thread.setDaemon(true);
    thread.start();
    try {
      return task.get(limit.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      thread.interrupt();
      throw e;
    } catch (InterruptedException e) {
      thread.interrupt();
      Thread.currentThread().interrupt();
      throw new ExecutionException("interrupted while waiting for " + threadName, e);
    }
  }
}
