package com.ssmas.yield.connectors.kinesis;

import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.kinesis.model.GetRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.HashKeyRange;
import software.amazon.awssdk.services.kinesis.model.Record;
import software.amazon.awssdk.services.kinesis.model.ResourceNotFoundException;
import software.amazon.awssdk.services.kinesis.model.SequenceNumberRange;
import software.amazon.awssdk.services.kinesis.model.Shard;

import java.math.BigInteger;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * A Kinesis stream in memory behind {@link KinesisShardProxy}: shards with parents and hash-key
 * ranges, records with real-sized sequence numbers, closing a shard (its last GetRecords returns
 * no next iterator), failures to throw from the next GetRecords of a shard (expired iterator,
 * throttling...), empty pages behind the tip, and GetRecords calls that block until released
 * (a hung connection). It records every GetShardIterator position asked for, so tests can check
 * where reading resumed, and counts GetRecords calls per shard. Thread-safe: the split reader
 * calls it from its pool while the test writes records.
 *
 * <p>An iterator is "shardId@index of the next record"; like Kinesis, a shard id is not trusted
 * to be free of any character, so the index is taken after the last '@'.
 */
final class InMemoryKinesisStream implements KinesisShardProxy {

    /** Sequence numbers as long as Kinesis' own (56 digits), increasing per record. */
    private static final BigInteger FIRST_SEQUENCE_NUMBER =
            new BigInteger("49590338271490256608559692538361571095921575989136588800");

    /** Hash keys 0 .. 2^128 - 1. */
    static final BigInteger MAX_HASH_KEY = BigInteger.ONE.shiftLeft(128).subtract(BigInteger.ONE);

    private static final class FakeShard {
        final String id;
        final String parent;
        final String adjacentParent;
        final BigInteger startingHashKey;
        final BigInteger endingHashKey;
        final List<Record> records = new ArrayList<>();
        boolean closed;

        FakeShard(String id, String parent, String adjacentParent, BigInteger start, BigInteger end) {
            this.id = id;
            this.parent = parent;
            this.adjacentParent = adjacentParent;
            this.startingHashKey = start;
            this.endingHashKey = end;
        }
    }

    private final Map<String, FakeShard> shards = new LinkedHashMap<>();
    private final Map<String, Deque<RuntimeException>> nextGetRecordsFailures = new HashMap<>();
    private final Map<String, Deque<Long>> nextEmptyPagesBehind = new HashMap<>();
    private final Map<String, CountDownLatch> blockedShards = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> getRecordsCalls = new ConcurrentHashMap<>();
    private final Map<String, List<Long>> getRecordsCallTimes = new ConcurrentHashMap<>();
    private volatile LongSupplier clock = System::currentTimeMillis;
    private final List<String> iteratorRequests = new ArrayList<>();
    private final Deque<RuntimeException> nextListShardsFailures = new ArrayDeque<>();
    private BigInteger nextSequenceNumber = FIRST_SEQUENCE_NUMBER;
    private long nextArrivalMillis = 1_714_557_600_000L; // 2024-05-01T10:00:00Z
    private volatile boolean closedProxy;

    /** A shard covering the whole hash-key space. */
    InMemoryKinesisStream addShard(String shardId) {
        return addShard(shardId, null, null);
    }

    /** A shard covering the whole hash-key space. */
    InMemoryKinesisStream addShard(String shardId, String parent, String adjacentParent) {
        return addShard(shardId, parent, adjacentParent, BigInteger.ZERO, MAX_HASH_KEY);
    }

    /** A shard covering the hash keys {@code start..end}; null ends: ListShards omits the range. */
    synchronized InMemoryKinesisStream addShard(
            String shardId, String parent, String adjacentParent, BigInteger start, BigInteger end) {
        shards.put(shardId, new FakeShard(shardId, parent, adjacentParent, start, end));
        return this;
    }

    /**
     * Splits a shard as Kinesis does: the parent is closed and two children cover the lower and
     * the upper half of its hash-key range.
     */
    synchronized InMemoryKinesisStream splitShard(String parentId, String lowerChild, String upperChild) {
        FakeShard parent = shard(parentId);
        BigInteger middle = parent.startingHashKey.add(parent.endingHashKey).shiftRight(1);
        parent.closed = true;
        addShard(lowerChild, parentId, null, parent.startingHashKey, middle);
        addShard(upperChild, parentId, null, middle.add(BigInteger.ONE), parent.endingHashKey);
        return this;
    }

    /** Appends records "<shardId>#0", "<shardId>#1", ... and returns their sequence numbers. */
    synchronized List<String> putRecords(String shardId, int count) {
        FakeShard shard = shard(shardId);
        List<String> sequenceNumbers = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String seq = nextSequenceNumber.toString();
            nextSequenceNumber = nextSequenceNumber.add(BigInteger.ONE);
            shard.records.add(
                    Record.builder()
                            .sequenceNumber(seq)
                            .partitionKey("pk")
                            .approximateArrivalTimestamp(Instant.ofEpochMilli(nextArrivalMillis++))
                            .data(SdkBytes.fromUtf8String(shardId + "#" + shard.records.size()))
                            .build());
            sequenceNumbers.add(seq);
        }
        return sequenceNumbers;
    }

    /** After a split or merge: no more records; its last GetRecords has no next iterator. */
    synchronized void closeShard(String shardId) {
        shard(shardId).closed = true;
    }

    /** The next GetRecords call on the shard throws this (queued in order). */
    synchronized void failNextGetRecords(String shardId, RuntimeException failure) {
        nextGetRecordsFailures.computeIfAbsent(shardId, k -> new ArrayDeque<>()).add(failure);
    }

    /**
     * The next GetRecords call on the shard returns no records, millisBehindLatest as given and an
     * iterator at the same place (Kinesis may return empty pages before the tip of a shard).
     */
    synchronized void emptyPageNext(String shardId, long millisBehindLatest) {
        nextEmptyPagesBehind.computeIfAbsent(shardId, k -> new ArrayDeque<>()).add(millisBehindLatest);
    }

    /** GetRecords calls on the shard wait (a hung connection) until {@link #release} is called. */
    void block(String shardId) {
        blockedShards.put(shardId, new CountDownLatch(1));
    }

    void release(String shardId) {
        CountDownLatch latch = blockedShards.remove(shardId);
        if (latch != null) {
            latch.countDown();
        }
    }

    /** GetRecords calls made on the shard so far (including failed and blocked ones). */
    int getRecordsCalls(String shardId) {
        AtomicInteger n = getRecordsCalls.get(shardId);
        return n == null ? 0 : n.get();
    }

    /** The clock that stamps GetRecords calls (the reader's simulated clock in pacing tests). */
    void timeCallsWith(LongSupplier clock) {
        this.clock = clock;
    }

    /** When each GetRecords call on the shard was made, by {@link #timeCallsWith}'s clock. */
    List<Long> callTimes(String shardId) {
        List<Long> times = getRecordsCallTimes.get(shardId);
        synchronized (this) {
            return times == null ? List.of() : new ArrayList<>(times);
        }
    }

    /** The next ListShards call throws this. */
    synchronized void failNextListShards(RuntimeException failure) {
        nextListShardsFailures.add(failure);
    }

    /** Every GetShardIterator call, as "shardId TYPE(argument)". */
    synchronized List<String> iteratorRequests() {
        return new ArrayList<>(iteratorRequests);
    }

    boolean isClosed() {
        return closedProxy;
    }

    @Override
    public synchronized List<Shard> listShards() {
        if (!nextListShardsFailures.isEmpty()) {
            throw nextListShardsFailures.poll();
        }
        List<Shard> listed = new ArrayList<>();
        for (FakeShard s : shards.values()) {
            SequenceNumberRange.Builder range =
                    SequenceNumberRange.builder().startingSequenceNumber(FIRST_SEQUENCE_NUMBER.toString());
            if (s.closed) {
                range.endingSequenceNumber(nextSequenceNumber.toString());
            }
            Shard.Builder shard =
                    Shard.builder()
                            .shardId(s.id)
                            .parentShardId(s.parent)
                            .adjacentParentShardId(s.adjacentParent)
                            .sequenceNumberRange(range.build());
            if (s.startingHashKey != null) {
                shard.hashKeyRange(
                        HashKeyRange.builder()
                                .startingHashKey(s.startingHashKey.toString())
                                .endingHashKey(s.endingHashKey.toString())
                                .build());
            }
            listed.add(shard.build());
        }
        return listed;
    }

    @Override
    public synchronized String getShardIterator(String shardId, StartingPosition position) {
        iteratorRequests.add(shardId + " " + position);
        FakeShard shard = shards.get(shardId);
        if (shard == null) {
            throw ResourceNotFoundException.builder().message("Shard " + shardId + " not found").build();
        }
        int index;
        switch (position.getType()) {
            case TRIM_HORIZON:
                index = 0;
                break;
            case LATEST:
                index = shard.records.size();
                break;
            case AT_TIMESTAMP:
                index = firstIndex(shard, r -> r.approximateArrivalTimestamp().toEpochMilli()
                        >= position.getTimestampMillis());
                break;
            case AFTER_SEQUENCE_NUMBER:
                BigInteger after = new BigInteger(position.getSequenceNumber());
                index = firstIndex(shard, r -> new BigInteger(r.sequenceNumber()).compareTo(after) > 0);
                break;
            default:
                throw new IllegalArgumentException(position.toString());
        }
        return shardId + "@" + index;
    }

    @Override
    public GetRecordsResponse getRecords(String shardIterator, int maxRecords) {
        int at = shardIterator.lastIndexOf('@');
        String shardId = shardIterator.substring(0, at);
        getRecordsCalls.computeIfAbsent(shardId, k -> new AtomicInteger()).incrementAndGet();
        long now = clock.getAsLong();
        synchronized (this) {
            getRecordsCallTimes.computeIfAbsent(shardId, k -> new ArrayList<>()).add(now);
        }
        CountDownLatch blocked = blockedShards.get(shardId);
        if (blocked != null) {
            try {
                blocked.await(); // outside the lock: the other shards go on
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw SdkClientException.create("interrupted while blocked", e);
            }
        }
        return recordsAfter(shardId, Integer.parseInt(shardIterator.substring(at + 1)), maxRecords);
    }

    private synchronized GetRecordsResponse recordsAfter(String shardId, int from, int maxRecords) {
        FakeShard shard = shard(shardId);
        Deque<RuntimeException> failures = nextGetRecordsFailures.get(shard.id);
        if (failures != null && !failures.isEmpty()) {
            throw failures.poll();
        }
        Deque<Long> emptyPages = nextEmptyPagesBehind.get(shard.id);
        if (emptyPages != null && !emptyPages.isEmpty()) {
            return GetRecordsResponse.builder()
                    .records(List.of())
                    .nextShardIterator(shard.id + "@" + from)
                    .millisBehindLatest(emptyPages.poll())
                    .build();
        }
        int to = Math.min(shard.records.size(), from + maxRecords);
        boolean atEnd = to == shard.records.size();
        return GetRecordsResponse.builder()
                .records(new ArrayList<>(shard.records.subList(from, to)))
                .nextShardIterator(shard.closed && atEnd ? null : shard.id + "@" + to)
                .millisBehindLatest(atEnd ? 0L : 5_000L)
                .build();
    }

    @Override
    public void close() {
        closedProxy = true;
    }

    private FakeShard shard(String shardId) {
        FakeShard shard = shards.get(shardId);
        if (shard == null) {
            throw new IllegalArgumentException("no shard " + shardId + " in the test stream");
        }
        return shard;
    }

    private static int firstIndex(FakeShard shard, java.util.function.Predicate<Record> matches) {
        for (int i = 0; i < shard.records.size(); i++) {
            if (matches.test(shard.records.get(i))) {
                return i;
            }
        }
        return shard.records.size();
    }
}
