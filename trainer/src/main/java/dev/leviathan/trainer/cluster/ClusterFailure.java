package dev.leviathan.trainer.cluster;

/**
 * A worker of the cluster stopped responding during a step; the message is one line naming it
 * (when it can be told) and the step. The process that catches this cannot continue training: the
 * step may still be blocked in native code, so it reports and exits, and every worker restarts from
 * the last checkpoint.
 */
public final class ClusterFailure extends RuntimeException {
  private final long step;

  public ClusterFailure(String message, long step, Throwable cause) {
    super(message, cause);
    this.step = step;
  }

  /** The step that did not complete. */
  public long step() {
    return step;
  }
}
