package com.ssmas.yield.connectors.kinesis;

import java.math.BigInteger;

/**
 * Which reader (subtask) reads a shard: the one whose slice of the 128-bit hash-key space holds
 * the middle of the shard's hash-key range. Reader r of p owns the keys [r * 2^128 / p,
 * (r + 1) * 2^128 / p).
 *
 * <p>Why by hash keys: Kinesis cuts the key space into equal ranges when it creates a stream and
 * halves ranges when it scales uniformly (UpdateShardCount). Slicing the key space evenly over the
 * readers gives each an equal share of the keys (and of the traffic, when partition keys spread
 * evenly), and of n evenly split shards over p <= n readers each reader gets floor(n/p) or
 * ceil(n/p). Shard ids differ only in their last digits and hash to consecutive values, which
 * spread badly over readers. The middle rather than the start of the range keeps a shard off a
 * slice boundary that its start only touches through rounding. The answer depends on the range
 * and the parallelism only: deterministic, and the same after a restore at the same parallelism.
 */
final class HashKeyRangeAssignment {

    /** 2^128: the number of hash keys (MD5 of the partition key). */
    static final BigInteger KEY_SPACE = BigInteger.ONE.shiftLeft(128);

    private HashKeyRangeAssignment() {}

    /** The reader of a shard covering the hash keys {@code start..end} (inclusive). */
    static int readerOf(BigInteger start, BigInteger end, int parallelism) {
        if (parallelism < 1) {
            throw new IllegalArgumentException("parallelism must be >= 1, got " + parallelism);
        }
        BigInteger middle = start.add(end).shiftRight(1);
        int reader = middle.multiply(BigInteger.valueOf(parallelism)).divide(KEY_SPACE).intValue();
        // keys outside 0 .. 2^128 - 1 do not exist in Kinesis; clamp rather than fail
        return Math.max(0, Math.min(parallelism - 1, reader));
    }

    /**
     * For a shard whose range is unknown: only a shard restored from an old checkpoint that
     * ListShards no longer names (expired past retention), which its reader will find gone and
     * finish at once. Deterministic, and the rule such checkpoints were written under.
     */
    static int readerOfShardWithoutRange(String shardId, int parallelism) {
        return Math.floorMod(shardId.hashCode(), parallelism);
    }
}
