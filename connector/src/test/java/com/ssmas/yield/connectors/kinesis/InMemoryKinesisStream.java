package com.ssmas.yield.connectors.kinesis;

import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kinesis.model.GetRecordsResponse;
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

/**
 * A Kinesis stream in memory behind {@link KinesisShardProxy}: shards with parents, records with
 * real-sized sequence numbers, closing a shard (its last GetRecords returns no next iterator),
 * and failures to throw from the next GetRecords of a shard (expired iterator, throttling...).
 * It records every GetShardIterator position asked for, so tests can check where reading resumed.
 *
 * <p>An iterator is "shardId@index of the next record"; like Kinesis, a shard id is not trusted
 * to be free of any character, so the index is taken after the last '@'.
 */
final class InMemoryKinesisStream implements KinesisShardProxy {

    /** Sequence numbers as long as Kinesis' own (56 digits), increasing per record. */
    private static final BigInteger FIRST_SEQUENCE_NUMBER =
            new BigInteger("49590338271490256608559692538361571095921575989136588800");

    private static final class FakeShard {
        final String id;
        final String parent;
        final String adjacentParent;
        final List<Record> records = new ArrayList<>();
        boolean closed;

        FakeShard(String id, String parent, String adjacentParent) {
            this.id = id;
            this.parent = parent;
            this.adjacentParent = adjacentParent;
        }
    }

    private final Map<String, FakeShard> shards = new LinkedHashMap<>();
    private final Map<String, Deque<RuntimeException>> nextGetRecordsFailures = new HashMap<>();
    private final List<String> iteratorRequests = new ArrayList<>();
    private final Deque<RuntimeException> nextListShardsFailures = new ArrayDeque<>();
    private BigInteger nextSequenceNumber = FIRST_SEQUENCE_NUMBER;
    private long nextArrivalMillis = 1_714_557_600_000L; // 2024-05-01T10:00:00Z
    private boolean closedProxy;

    InMemoryKinesisStream addShard(String shardId) {
        return addShard(shardId, null, null);
    }

    InMemoryKinesisStream addShard(String shardId, String parent, String adjacentParent) {
        shards.put(shardId, new FakeShard(shardId, parent, adjacentParent));
        return this;
    }

    /** Appends records "<shardId>#0", "<shardId>#1", ... and returns their sequence numbers. */
    List<String> putRecords(String shardId, int count) {
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
    void closeShard(String shardId) {
        shard(shardId).closed = true;
    }

    /** The next GetRecords call on the shard throws this (queued in order). */
    void failNextGetRecords(String shardId, RuntimeException failure) {
        nextGetRecordsFailures.computeIfAbsent(shardId, k -> new ArrayDeque<>()).add(failure);
    }

    /** The next ListShards call throws this. */
    void failNextListShards(RuntimeException failure) {
        nextListShardsFailures.add(failure);
    }

    /** Every GetShardIterator call, as "shardId TYPE(argument)". */
    List<String> iteratorRequests() {
        return iteratorRequests;
    }

    boolean isClosed() {
        return closedProxy;
    }

    @Override
    public List<Shard> listShards() {
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
            listed.add(
                    Shard.builder()
                            .shardId(s.id)
                            .parentShardId(s.parent)
                            .adjacentParentShardId(s.adjacentParent)
                            .sequenceNumberRange(range.build())
                            .build());
        }
        return listed;
    }

    @Override
    public String getShardIterator(String shardId, StartingPosition position) {
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
        FakeShard shard = shard(shardIterator.substring(0, at));
        Deque<RuntimeException> failures = nextGetRecordsFailures.get(shard.id);
        if (failures != null && !failures.isEmpty()) {
            throw failures.poll();
        }
        int from = Integer.parseInt(shardIterator.substring(at + 1));
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
