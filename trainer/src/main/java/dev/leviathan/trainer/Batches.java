package dev.leviathan.trainer;

import java.util.SplittableRandom;

/**
 * Random contiguous windows of {@code context + 1} tokens. Batch number {@code k} of a stream is drawn
 * from its own generator seeded by (seed, stream, k), so the whole state of the stream is the number of
 * batches drawn: resuming continues the exact same data order.
 */
public final class Batches {
  private final int[] tokens;
  private final int context;
  private final int batch;
  private final long seed;
  private long drawn;

  public Batches(int[] tokens, int context, int batch, long seed, long stream) {
    this.tokens = tokens;
    this.context = context;
    this.batch = batch;
    this.seed = new SplittableRandom(seed).split().nextLong() ^ (stream * 0x9E3779B97F4A7C15L);
  }

  /** Number of batches drawn so far (the stream's state). */
  public long position() {
    return drawn;
  }

  public void seek(long position) {
    this.drawn = position;
  }

  /** The next batch: inputs and targets (inputs shifted by one), each {@code batch * context}. */
  public int[][] next() {
    SplittableRandom rnd = new SplittableRandom(seed + drawn * 0xBF58476D1CE4E5B9L);
    drawn++;
    int[] x = new int[batch * context];
    int[] y = new int[batch * context];
    int range = tokens.length - context;
    for (int b = 0; b < batch; b++) {
      int start = rnd.nextInt(range);
      System.arraycopy(tokens, start, x, b * context, context);
      System.arraycopy(tokens, start + 1, y, b * context, context);
    }
    return new int[][] {x, y};
  }
}
