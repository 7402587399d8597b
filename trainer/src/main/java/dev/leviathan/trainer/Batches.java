package dev.leviathan.trainer;

import java.util.SplittableRandom;

/**
 * Random contiguous windows of {@code context + 1} tokens. Batch number {@code k} of a stream is drawn
 * from its own generator seeded by (seed, stream, k), so the whole state of the stream is the number of
 * batches drawn: resuming continues the exact same data order.
 *
 * <p>Sharded for data-parallel training: with {@code shards} = N, batch {@code k} of the global stream
 * has {@code N * batch} windows (the windows a single process with batch {@code N * batch} would draw)
 * and shard {@code i} takes windows {@code i * batch .. (i + 1) * batch - 1} of it.
 */
public final class Batches {
  private final int[] tokens;
  private final int context;
  private final int batch;
  private final long seed;
  private final int shard;
  private long drawn;

  public Batches(int[] tokens, int context, int batch, long seed, long stream) {
    this(tokens, context, batch, seed, stream, 0, 1);
  }

  /** Shard {@code shard} of {@code shards} of the stream whose batches have {@code shards * batch} windows. */
  public Batches(int[] tokens, int context, int batch, long seed, long stream, int shard, int shards) {
    if (shard < 0 || shard >= shards) {
      throw new IllegalArgumentException("shard " + shard + " of " + shards + " does not exist");
    }
    this.tokens = tokens;
    this.context = context;
    this.batch = batch;
    this.shard = shard;
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
    for (int skipped = 0; skipped < shard * batch; skipped++) {
      rnd.nextInt(range);
    }
    for (int b = 0; b < batch; b++) {
      int start = rnd.nextInt(range);
      System.arraycopy(tokens, start, x, b * context, context);
      System.arraycopy(tokens, start + 1, y, b * context, context);
    }
    return new int[][] {x, y};
  }
}
