package com.ssmas.yield.connectors.kinesis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.ssmas.yield.connectors.kinesis.KinesisConnectorOptions.InitialPosition;
import com.ssmas.yield.connectors.kinesis.KinesisEnumeratorState.ShardStatus;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.kinesis.model.ResourceNotFoundException;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The enumerator's decisions: which shard goes to which reader, and when. A child shard (after a
 * split or a merge) must never be read before its parents are read to their end, or the events
 * of one partition key would be read out of order.
 */
class KinesisShardEnumeratorTest {

    private static String shard(int n) {
        return String.format("shardId-%012d", n);
    }

    private static KinesisShardEnumerator start(
            FakeEnumeratorContext context,
            InMemoryKinesisStream stream,
            InitialPosition initialPosition,
            KinesisEnumeratorState restored) {
        KinesisShardEnumerator enumerator =
                new KinesisShardEnumerator(
                        context,
                        KinesisTestSettings.startingAt(initialPosition, 100),
                        restored,
                        () -> stream);
        enumerator.start();
        return enumerator;
    }

    private static void readerFinished(KinesisShardEnumerator enumerator, String... shardIds) {
        enumerator.handleSourceEvent(0, new SplitsFinishedEvent(Arrays.asList(shardIds)));
    }

    private static KinesisShardSplit assignedSplit(FakeEnumeratorContext context, String shardId) {
        return context.assigned().values().stream()
                .flatMap(List::stream)
                .filter(s -> s.getShardId().equals(shardId))
                .findFirst()
                .orElseThrow(() -> new AssertionError(shardId + " was not assigned"));
    }

    private static Map<String, ShardStatus> statuses(KinesisShardEnumerator enumerator) {
        Map<String, ShardStatus> out = new java.util.LinkedHashMap<>();
        enumerator.snapshotState(1L).getShards().forEach((id, e) -> out.put(id, e.getStatus()));
        return out;
    }

    // ------------------------------------------------------------------ reshard order

    @Test
    void afterASplitTheChildrenWaitUntilTheParentIsFinished() {
        InMemoryKinesisStream stream =
                new InMemoryKinesisStream()
                        .addShard(shard(0))
                        .addShard(shard(1), shard(0), null)
                        .addShard(shard(2), shard(0), null);
        stream.closeShard(shard(0));
        FakeEnumeratorContext context = new FakeEnumeratorContext(2);
        context.registerAllReaders();
        KinesisShardEnumerator enumerator = start(context, stream, InitialPosition.TRIM_HORIZON, null);

        context.runDiscovery();
        context.runDiscovery(); // a later discovery round changes nothing while the parent is read
        assertEquals(List.of(shard(0)), context.assignedShardIds());

        readerFinished(enumerator, shard(0));
        assertEquals(new HashSet<>(List.of(shard(0), shard(1), shard(2))),
                new HashSet<>(context.assignedShardIds()));
        assertEquals(StartingPosition.trimHorizon(), assignedSplit(context, shard(1)).getStartingPosition());
        assertEquals(List.of(shard(0)), assignedSplit(context, shard(2)).getParentShardIds());
    }

    @Test
    void theChildrenOfAReshardingStartTogetherOnceEveryParentIsFinished() {
        // two shards split in two; reader 0 finishes its parent long before reader 1 does
        InMemoryKinesisStream stream = evenlySplitStream(2);
        FakeEnumeratorContext context = new FakeEnumeratorContext(2);
        context.registerAllReaders();
        KinesisShardEnumerator enumerator = start(context, stream, InitialPosition.TRIM_HORIZON, null);
        context.runDiscovery();
        stream.splitShard(shard(0), shard(2), shard(3));
        stream.splitShard(shard(1), shard(4), shard(5));
        context.runDiscovery();

        readerFinished(enumerator, shard(0));
        context.runDiscovery();
        assertEquals(new HashSet<>(List.of(shard(0), shard(1))), new HashSet<>(context.assignedShardIds()),
                "no child starts while a parent of the resharding is unread: a reader given it early "
                        + "would move its watermark past the records of a sibling it gets later");

        readerFinished(enumerator, shard(1));
        assertEquals(6, context.assignedShardIds().size());
    }

    @Test
    void aClosedChildIsReadBeforeItsOpenSiblingsAndItsOwnChildren() {
        // shard 0 splits into 1 and 2, and 1 splits again into 3 and 4 before the job reads it
        InMemoryKinesisStream stream =
                new InMemoryKinesisStream()
                        .addShard(shard(0))
                        .addShard(shard(1), shard(0), null)
                        .addShard(shard(2), shard(0), null)
                        .addShard(shard(3), shard(1), null)
                        .addShard(shard(4), shard(1), null);
        stream.closeShard(shard(0));
        stream.closeShard(shard(1));
        FakeEnumeratorContext context = new FakeEnumeratorContext(2);
        context.registerAllReaders();
        KinesisShardEnumerator enumerator = start(context, stream, InitialPosition.TRIM_HORIZON, null);
        context.runDiscovery();
        readerFinished(enumerator, shard(0));
        assertEquals(new HashSet<>(List.of(shard(0), shard(1))), new HashSet<>(context.assignedShardIds()),
                "the closed child is read (it must be, for anything after it); its open sibling waits");

        readerFinished(enumerator, shard(1));
        assertEquals(5, context.assignedShardIds().size());
    }

    @Test
    void afterAMergeTheChildWaitsForBothParents() {
        InMemoryKinesisStream stream =
                new InMemoryKinesisStream()
                        .addShard(shard(0))
                        .addShard(shard(1))
                        .addShard(shard(2), shard(0), shard(1));
        stream.closeShard(shard(0));
        stream.closeShard(shard(1));
        FakeEnumeratorContext context = new FakeEnumeratorContext(2);
        context.registerAllReaders();
        KinesisShardEnumerator enumerator = start(context, stream, InitialPosition.TRIM_HORIZON, null);

        context.runDiscovery();
        assertEquals(new HashSet<>(List.of(shard(0), shard(1))), new HashSet<>(context.assignedShardIds()));

        readerFinished(enumerator, shard(0));
        assertEquals(2, context.assignedShardIds().size(), "the adjacent parent is still being read");

        readerFinished(enumerator, shard(1));
        assertEquals(List.of(shard(0), shard(1)), assignedSplit(context, shard(2)).getParentShardIds());
    }

    @Test
    void aChildWaitsWhileItsParentHasNoReaderYet() {
        // two readers: the parent (whole key space) belongs to reader 0, its upper child to reader 1
        String parent = shard(0);
        InMemoryKinesisStream stream =
                new InMemoryKinesisStream().addShard(parent).splitShard(parent, shard(1), shard(2));
        FakeEnumeratorContext context = new FakeEnumeratorContext(2);
        context.registerReader(1);
        KinesisShardEnumerator enumerator = start(context, stream, InitialPosition.TRIM_HORIZON, null);

        context.runDiscovery();
        assertEquals(List.of(), context.assignedShardIds(), "the upper child waits for its parent");

        context.registerReader(0);
        enumerator.addReader(0);
        assertEquals(List.of(parent), context.assigned().get(0).stream().map(KinesisShardSplit::getShardId)
                .collect(Collectors.toList()));

        readerFinished(enumerator, parent);
        assertEquals(List.of(parent, shard(1)), shardIdsOf(context, 0), "lower half: reader 0");
        assertEquals(List.of(shard(2)), shardIdsOf(context, 1), "upper half: reader 1");
    }

    @Test
    void aParentExpiredPastRetentionDoesNotHoldItsChild() {
        // the parent is no longer listed: nothing of it is left to read
        InMemoryKinesisStream stream = new InMemoryKinesisStream().addShard(shard(7), shard(3), null);
        FakeEnumeratorContext context = new FakeEnumeratorContext(1);
        context.registerAllReaders();
        start(context, stream, InitialPosition.TRIM_HORIZON, null);

        context.runDiscovery();
        assertEquals(List.of(shard(7)), context.assignedShardIds());
    }

    // ------------------------------------------------------------------ starting positions

    @Test
    void latestIsPinnedToTheStartTimeAndReshardChildrenAreReadFromTrimHorizon() {
        InMemoryKinesisStream stream = new InMemoryKinesisStream().addShard(shard(0));
        FakeEnumeratorContext context = new FakeEnumeratorContext(1);
        context.registerAllReaders();
        long before = System.currentTimeMillis();
        KinesisShardEnumerator enumerator = start(context, stream, InitialPosition.LATEST, null);
        long after = System.currentTimeMillis();

        context.runDiscovery();
        StartingPosition first = assignedSplit(context, shard(0)).getStartingPosition();
        assertEquals(StartingPosition.Type.AT_TIMESTAMP, first.getType());
        assertTrue(first.getTimestampMillis() >= before - 1000 && first.getTimestampMillis() <= after,
                "LATEST becomes AT_TIMESTAMP(job start), got " + first);

        // the stream is resharded while the job runs
        stream.closeShard(shard(0));
        stream.addShard(shard(1), shard(0), null).addShard(shard(2), shard(0), null);
        context.runDiscovery();
        assertEquals(List.of(shard(0)), context.assignedShardIds());

        readerFinished(enumerator, shard(0));
        assertEquals(StartingPosition.trimHorizon(), assignedSplit(context, shard(1)).getStartingPosition());
        assertEquals(StartingPosition.trimHorizon(), assignedSplit(context, shard(2)).getStartingPosition());
    }

    @Test
    void underLatestAShardClosedBeforeTheStartIsSkippedAndItsChildIsRead() {
        InMemoryKinesisStream stream =
                new InMemoryKinesisStream().addShard(shard(0)).addShard(shard(1), shard(0), null);
        stream.closeShard(shard(0));
        FakeEnumeratorContext context = new FakeEnumeratorContext(1);
        context.registerAllReaders();
        KinesisShardEnumerator enumerator = start(context, stream, InitialPosition.LATEST, null);

        context.runDiscovery();
        assertEquals(List.of(shard(1)), context.assignedShardIds());
        assertEquals(ShardStatus.FINISHED, statuses(enumerator).get(shard(0)));
    }

    @Test
    void atTimestampStartsEveryInitialShardAtTheConfiguredTime() {
        InMemoryKinesisStream stream = new InMemoryKinesisStream().addShard(shard(0)).addShard(shard(1));
        FakeEnumeratorContext context = new FakeEnumeratorContext(1);
        context.registerAllReaders();
        start(context, stream, InitialPosition.AT_TIMESTAMP, null);

        context.runDiscovery();
        assertEquals(StartingPosition.atTimestamp(1_714_557_600_000L),
                assignedSplit(context, shard(1)).getStartingPosition());
    }

    // ------------------------------------------------------------------ failures and restore

    @Test
    void splitsOfAFailedReaderAreAssignedAgainWithTheirProgressButFinishedOnesAreNot() {
        InMemoryKinesisStream stream =
                new InMemoryKinesisStream().addShard(shard(0)).addShard(shard(1));
        FakeEnumeratorContext context = new FakeEnumeratorContext(1);
        context.registerAllReaders();
        KinesisShardEnumerator enumerator = start(context, stream, InitialPosition.TRIM_HORIZON, null);
        context.runDiscovery();
        readerFinished(enumerator, shard(1));

        KinesisShardSplit inProgress =
                assignedSplit(context, shard(0))
                        .withStartingPosition(StartingPosition.afterSequenceNumber("4959033827"));
        enumerator.addSplitsBack(List.of(inProgress, assignedSplit(context, shard(1))), 0);

        List<KinesisShardSplit> reader0 = context.assigned().get(0);
        assertEquals(3, reader0.size(), "only the unfinished shard is assigned again");
        assertEquals(inProgress, reader0.get(2));
    }

    @Test
    void aRestoreAtAnotherParallelismStillReadsTheParentBeforeItsChildren() throws Exception {
        InMemoryKinesisStream stream =
                new InMemoryKinesisStream()
                        .addShard(shard(0))
                        .addShard(shard(1), shard(0), null)
                        .addShard(shard(2), shard(0), null);
        stream.closeShard(shard(0));
        FakeEnumeratorContext before = new FakeEnumeratorContext(2);
        before.registerAllReaders();
        KinesisShardEnumerator first = start(before, stream, InitialPosition.TRIM_HORIZON, null);
        before.runDiscovery();

        KinesisEnumeratorStateSerializer serializer = new KinesisEnumeratorStateSerializer();
        KinesisEnumeratorState checkpoint =
                serializer.deserialize(serializer.getVersion(), serializer.serialize(first.snapshotState(7L)));

        // the parent's split comes back through its reader's state, never from the enumerator
        FakeEnumeratorContext after = new FakeEnumeratorContext(3);
        after.registerAllReaders();
        KinesisShardEnumerator restored = start(after, stream, InitialPosition.TRIM_HORIZON, checkpoint);
        after.runDiscovery();
        assertEquals(List.of(), after.assignedShardIds());

        readerFinished(restored, shard(0)); // the restored reader reports its finished marker
        assertEquals(new HashSet<>(List.of(shard(1), shard(2))), new HashSet<>(after.assignedShardIds()));
    }

    @Test
    void aFailedDiscoveryRoundIsRetriedButAMissingStreamFailsTheJob() {
        InMemoryKinesisStream stream = new InMemoryKinesisStream().addShard(shard(0));
        FakeEnumeratorContext context = new FakeEnumeratorContext(1);
        context.registerAllReaders();
        start(context, stream, InitialPosition.TRIM_HORIZON, null);

        stream.failNextListShards(SdkClientException.create("connection reset"));
        context.runDiscovery();
        assertEquals(List.of(), context.assignedShardIds());
        context.runDiscovery();
        assertEquals(List.of(shard(0)), context.assignedShardIds());

        stream.failNextListShards(ResourceNotFoundException.builder().message("gone").build());
        RuntimeException failure = assertThrows(RuntimeException.class, context::runDiscovery);
        assertTrue(failure.getMessage().contains(KinesisTestSettings.STREAM_ARN), failure.getMessage());
    }

    @Test
    void closingTheEnumeratorClosesItsKinesisClient() throws Exception {
        InMemoryKinesisStream stream = new InMemoryKinesisStream();
        KinesisShardEnumerator enumerator =
                start(new FakeEnumeratorContext(1), stream, InitialPosition.TRIM_HORIZON, null);
        enumerator.close();
        assertTrue(stream.isClosed());
    }

    // ------------------------------------------------------------------ spread over readers

    private static List<String> shardIdsOf(FakeEnumeratorContext context, int reader) {
        return context.assigned().getOrDefault(reader, List.of()).stream()
                .map(KinesisShardSplit::getShardId)
                .collect(Collectors.toList());
    }

    /** {@code n} open shards cutting the hash-key space into equal ranges, as CreateStream does. */
    private static InMemoryKinesisStream evenlySplitStream(int n) {
        InMemoryKinesisStream stream = new InMemoryKinesisStream();
        BigInteger width = HashKeyRangeAssignment.KEY_SPACE.divide(BigInteger.valueOf(n));
        for (int i = 0; i < n; i++) {
            BigInteger start = width.multiply(BigInteger.valueOf(i));
            BigInteger end =
                    i == n - 1
                            ? InMemoryKinesisStream.MAX_HASH_KEY
                            : start.add(width).subtract(BigInteger.ONE);
            stream.addShard(shard(i), null, null, start, end);
        }
        return stream;
    }

    /** Open shards per reader once every listed shard whose parents are done is assigned. */
    private static List<Integer> openShardsPerReader(
            FakeEnumeratorContext context, Set<String> finished, int readers) {
        List<Integer> counts = new ArrayList<>();
        for (int r = 0; r < readers; r++) {
            counts.add((int) shardIdsOf(context, r).stream().filter(id -> !finished.contains(id)).count());
        }
        return counts;
    }

    /** Shards per reader after one discovery of the stream. */
    private static List<Integer> shardsPerReader(InMemoryKinesisStream stream, int shards, int readers) {
        FakeEnumeratorContext context = new FakeEnumeratorContext(readers);
        context.registerAllReaders();
        start(context, stream, InitialPosition.TRIM_HORIZON, null);
        context.runDiscovery();

        List<String> all = context.assignedShardIds();
        assertEquals(shards, all.size(), "every shard is assigned");
        assertEquals(shards, new HashSet<>(all).size(), "no shard is assigned twice");
        return openShardsPerReader(context, Set.of(), readers);
    }

    /**
     * Most shards of one reader over the best any assignment can do, ceil(shards / readers): with
     * 100 shards over 32 readers some reader must read 4, which is 1.28 x 100/32, so the bound is
     * taken against what is achievable.
     */
    private static double maxOverIdeal(List<Integer> counts, int shards) {
        int readers = counts.size();
        int ideal = (shards + readers - 1) / readers;
        return Collections.max(counts) / (double) ideal;
    }

    private static long idle(List<Integer> counts) {
        return counts.stream().filter(c -> c == 0).count();
    }

    @ParameterizedTest(name = "100 shards over {0} readers")
    @ValueSource(ints = {1, 2, 8, 16, 32, 64, 100})
    void aHundredEvenShardsAreSpreadUniformly(int readers) {
        List<Integer> counts = shardsPerReader(evenlySplitStream(100), 100, readers);

        assertTrue(maxOverIdeal(counts, 100) <= 1.25, "max / ideal for " + counts);
        assertEquals(0, idle(counts), "no idle reader: " + counts);
        assertTrue(Collections.max(counts) - Collections.min(counts) <= 1,
                "floor(100/p) or ceil(100/p) shards each: " + counts);
    }

    @Test
    void aHundredShardsOverEightReadersAreTwelveOrThirteenEach() {
        assertEquals(List.of(13, 12, 13, 12, 13, 12, 13, 12), shardsPerReader(evenlySplitStream(100), 100, 8));
    }

    @Test
    void aHundredShardsOverThirtyTwoReadersLeaveNoneIdle() {
        List<Integer> counts = shardsPerReader(evenlySplitStream(100), 100, 32);
        assertEquals(Set.of(3, 4), new HashSet<>(counts), "3 or 4 shards each: " + counts);
        assertEquals(4, counts.stream().filter(c -> c == 4).count(), "4 x 4 + 28 x 3 = 100");
    }

    @Test
    void moreReadersThanShardsGiveEachReaderAtMostOne() {
        List<Integer> counts = shardsPerReader(evenlySplitStream(100), 100, 128);
        assertEquals(1, Collections.max(counts));
        assertEquals(28, idle(counts), "28 readers have nothing to read");
    }

    @Test
    void twoDiscoveriesOfTheSameStreamAssignTheSameWay() {
        assertEquals(shardsPerReader(evenlySplitStream(100), 100, 8),
                shardsPerReader(evenlySplitStream(100), 100, 8));
        FakeEnumeratorContext first = new FakeEnumeratorContext(16);
        FakeEnumeratorContext second = new FakeEnumeratorContext(16);
        for (FakeEnumeratorContext context : List.of(first, second)) {
            context.registerAllReaders();
            start(context, evenlySplitStream(100), InitialPosition.TRIM_HORIZON, null);
            context.runDiscovery();
        }
        assertEquals(first.assigned(), second.assigned(), "same shard, same reader");
    }

    @ParameterizedTest(name = "every shard split, over {0} readers")
    @ValueSource(ints = {1, 2, 8, 16, 32, 64})
    void afterEveryShardIsSplitTheChildrenAreSpreadUniformly(int readers) {
        InMemoryKinesisStream stream = evenlySplitStream(100);
        FakeEnumeratorContext context = new FakeEnumeratorContext(readers);
        context.registerAllReaders();
        KinesisShardEnumerator enumerator = start(context, stream, InitialPosition.TRIM_HORIZON, null);
        context.runDiscovery();
        Set<String> parents = new HashSet<>();
        for (int i = 0; i < 100; i++) {
            stream.splitShard(shard(i), shard(100 + 2 * i), shard(101 + 2 * i));
            parents.add(shard(i));
        }
        context.runDiscovery();
        assertEquals(100, context.assignedShardIds().size(), "children wait for their parents");

        readerFinished(enumerator, parents.toArray(new String[0]));

        List<Integer> counts = openShardsPerReader(context, parents, readers);
        assertEquals(200, counts.stream().mapToInt(Integer::intValue).sum());
        assertTrue(maxOverIdeal(counts, 200) <= 1.25, "max / ideal for " + counts);
        assertEquals(0, idle(counts), "no idle reader: " + counts);
    }

    @Test
    void theChildrenOfASplitStayWithTheReaderOfTheirParentsKeys() {
        // 100 shards over 8 readers; a hot shard in the middle of reader 3's keys is split
        InMemoryKinesisStream stream = evenlySplitStream(100);
        FakeEnumeratorContext context = new FakeEnumeratorContext(8);
        context.registerAllReaders();
        KinesisShardEnumerator enumerator = start(context, stream, InitialPosition.TRIM_HORIZON, null);
        context.runDiscovery();
        assertTrue(shardIdsOf(context, 3).contains(shard(43)));

        stream.splitShard(shard(43), shard(100), shard(101));
        context.runDiscovery();
        readerFinished(enumerator, shard(43));

        assertTrue(shardIdsOf(context, 3).containsAll(List.of(shard(100), shard(101))),
                "both halves of the parent's keys are still reader 3's keys");
        assertEquals(List.of(13, 12, 13, 13, 13, 12, 13, 12),
                openShardsPerReader(context, Set.of(shard(43)), 8),
                "reader 3 reads one shard more: its keys are cut finer, their share is the same");
    }

    @Test
    void aShardListedWithoutAHashKeyRangeIsStillRead() {
        // some emulators leave HashKeyRange out of ListShards
        InMemoryKinesisStream stream = new InMemoryKinesisStream().addShard(shard(0), null, null, null, null);
        FakeEnumeratorContext context = new FakeEnumeratorContext(4);
        context.registerAllReaders();
        start(context, stream, InitialPosition.TRIM_HORIZON, null);

        context.runDiscovery();

        assertEquals(List.of(shard(0)),
                shardIdsOf(context, HashKeyRangeAssignment.readerOfShardWithoutRange(shard(0), 4)));
    }

    // ------------------------------------------------------------------ savepoints of the old assignment

    /**
     * An enumerator checkpoint written by the previous version (serializer version 1, assignment
     * by hash(shardId), no hash-key ranges): shard 0 FINISHED, shard 1 ASSIGNED, shards 2 and 3
     * (children of 0) and 4 (child of 1) UNASSIGNED. Produced by that code, not by this one.
     */
    private static final String VERSION_1_CHECKPOINT =
            "AQAAAAUCADZhcm46YXdzOmtpbmVzaXM6ZXUtd2VzdC0xOjAwMDAwMDAwMDAwMDpzdHJlYW0vYXVjdGlvbnMAFHNoYXJk"
                    + "SWQtMDAwMDAwMDAwMDAwAAAAAAAAAAABADZhcm46YXdzOmtpbmVzaXM6ZXUtd2VzdC0xOjAwMDAwMDAwMDAw"
                    + "MDpzdHJlYW0vYXVjdGlvbnMAFHNoYXJkSWQtMDAwMDAwMDAwMDAxAAAAAAAAAAAAADZhcm46YXdzOmtpbmVz"
                    + "aXM6ZXUtd2VzdC0xOjAwMDAwMDAwMDAwMDpzdHJlYW0vYXVjdGlvbnMAFHNoYXJkSWQtMDAwMDAwMDAwMDAy"
                    + "AAAAAQAUc2hhcmRJZC0wMDAwMDAwMDAwMDAAAAAAAAA2YXJuOmF3czpraW5lc2lzOmV1LXdlc3QtMTowMDAw"
                    + "MDAwMDAwMDA6c3RyZWFtL2F1Y3Rpb25zABRzaGFyZElkLTAwMDAwMDAwMDAwMwAAAAEAFHNoYXJkSWQtMDAw"
                    + "MDAwMDAwMDAwAAAAAAAANmFybjphd3M6a2luZXNpczpldS13ZXN0LTE6MDAwMDAwMDAwMDAwOnN0cmVhbS9h"
                    + "dWN0aW9ucwAUc2hhcmRJZC0wMDAwMDAwMDAwMDQAAAABABRzaGFyZElkLTAwMDAwMDAwMDAwMQAAAAA=";

    static KinesisEnumeratorState versionOneCheckpoint() throws Exception {
        return new KinesisEnumeratorStateSerializer()
                .deserialize(1, Base64.getDecoder().decode(VERSION_1_CHECKPOINT));
    }

    /** The stream behind that checkpoint: 0 and 1 halves of the key space, then split. */
    private static InMemoryKinesisStream streamOfTheVersionOneCheckpoint(boolean listShard4) {
        BigInteger half = HashKeyRangeAssignment.KEY_SPACE.shiftRight(1);
        InMemoryKinesisStream stream =
                new InMemoryKinesisStream()
                        .addShard(shard(0), null, null, BigInteger.ZERO, half.subtract(BigInteger.ONE))
                        .addShard(shard(1), null, null, half, InMemoryKinesisStream.MAX_HASH_KEY);
        stream.splitShard(shard(0), shard(2), shard(3));
        if (listShard4) {
            stream.splitShard(shard(1), shard(4), shard(5));
        } else {
            // shard 4 is past retention; 5 is new since the checkpoint
            stream.splitShard(shard(1), shard(6), shard(5));
        }
        return stream;
    }

    @Test
    void aSavepointOfTheOldAssignmentRestoresAndItsShardsAreAssignedByHashKeyRange() throws Exception {
        InMemoryKinesisStream stream = streamOfTheVersionOneCheckpoint(true);
        FakeEnumeratorContext context = new FakeEnumeratorContext(4);
        context.registerAllReaders();
        KinesisShardEnumerator enumerator =
                start(context, stream, InitialPosition.TRIM_HORIZON, versionOneCheckpoint());

        enumerator.addReader(0); // readers register before the first ListShards round
        assertEquals(List.of(), context.assignedShardIds(), "no range yet: wait for ListShards");

        context.runDiscovery();
        assertEquals(List.of(), context.assignedShardIds(),
                "the children of finished shard 0 wait with 4 and 5 for shard 1, still read");

        readerFinished(enumerator, shard(1)); // reported by the reader that restored shard 1
        // quarters of the key space: 2 = [0, 1/4), 3 = [1/4, 1/2) of shard 0's finished keys
        assertEquals(List.of(shard(2)), shardIdsOf(context, 0));
        assertEquals(List.of(shard(3)), shardIdsOf(context, 1));
        assertEquals(List.of(shard(4)), shardIdsOf(context, 2));
        assertEquals(List.of(shard(5)), shardIdsOf(context, 3));

        // the next checkpoint is version 2 and keeps every range
        KinesisEnumeratorStateSerializer serializer = new KinesisEnumeratorStateSerializer();
        KinesisEnumeratorState next =
                serializer.deserialize(2, serializer.serialize(enumerator.snapshotState(8L)));
        assertTrue(next.getShards().values().stream().allMatch(KinesisEnumeratorState.ShardEntry::hasHashKeyRange),
                next.toString());
        assertEquals(ShardStatus.FINISHED, next.getShards().get(shard(0)).getStatus());
        assertEquals(ShardStatus.FINISHED, next.getShards().get(shard(1)).getStatus());
    }

    @Test
    void aRestoredShardThatIsNoLongerListedIsAssignedByItsIdAfterTheFirstRound() throws Exception {
        InMemoryKinesisStream stream = streamOfTheVersionOneCheckpoint(false);
        FakeEnumeratorContext context = new FakeEnumeratorContext(4);
        context.registerAllReaders();
        KinesisShardEnumerator enumerator =
                start(context, stream, InitialPosition.TRIM_HORIZON, versionOneCheckpoint());
        context.runDiscovery();

        readerFinished(enumerator, shard(1));

        int oldRule = HashKeyRangeAssignment.readerOfShardWithoutRange(shard(4), 4);
        assertTrue(shardIdsOf(context, oldRule).contains(shard(4)),
                "its reader will find it gone and finish it");
        assertTrue(shardIdsOf(context, 3).contains(shard(5)));
        assertTrue(shardIdsOf(context, 2).contains(shard(6)));
    }
}
