package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.api.connector.source.ReaderInfo;
import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.connector.source.SplitsAssignment;
import org.apache.flink.metrics.groups.SplitEnumeratorMetricGroup;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.function.BiConsumer;

/**
 * The enumerator's view of the JobManager, run synchronously: readers register when the test
 * says so, assignments are recorded per reader, and the periodic shard discovery runs only when
 * the test calls {@link #runDiscovery()}.
 */
final class FakeEnumeratorContext implements SplitEnumeratorContext<KinesisShardSplit> {

    private final int parallelism;
    private final Map<Integer, ReaderInfo> readers = new HashMap<>();
    private final Map<Integer, List<KinesisShardSplit>> assigned = new TreeMap<>();
    private Callable<Object> discovery;
    private BiConsumer<Object, Throwable> onDiscovered;

    FakeEnumeratorContext(int parallelism) {
        this.parallelism = parallelism;
    }

    void registerReader(int subtask) {
        readers.put(subtask, new ReaderInfo(subtask, "localhost"));
    }

    void registerAllReaders() {
        for (int i = 0; i < parallelism; i++) {
            registerReader(i);
        }
    }

    /** One round of the periodic ListShards, result handed to the enumerator. */
    void runDiscovery() {
        Object result = null;
        Throwable error = null;
        try {
            result = discovery.call();
        } catch (Throwable t) {
            error = t;
        }
        onDiscovered.accept(result, error);
    }

    /** Every split assigned so far, per reader. */
    Map<Integer, List<KinesisShardSplit>> assigned() {
        return assigned;
    }

    /** The ids of every shard assigned so far, to any reader, in assignment order per reader. */
    List<String> assignedShardIds() {
        List<String> ids = new ArrayList<>();
        assigned.values().forEach(splits -> splits.forEach(s -> ids.add(s.getShardId())));
        return ids;
    }

    @Override
    public SplitEnumeratorMetricGroup metricGroup() {
        return UnregisteredMetricsGroup.createSplitEnumeratorMetricGroup();
    }

    @Override
    public void sendEventToSourceReader(int subtaskId, SourceEvent event) {}

    @Override
    public int currentParallelism() {
        return parallelism;
    }

    @Override
    public Map<Integer, ReaderInfo> registeredReaders() {
        return readers;
    }

    @Override
    public void assignSplits(SplitsAssignment<KinesisShardSplit> newAssignments) {
        newAssignments
                .assignment()
                .forEach((reader, splits) ->
                        assigned.computeIfAbsent(reader, r -> new ArrayList<>()).addAll(splits));
    }

    @Override
    public void signalNoMoreSplits(int subtask) {
        throw new AssertionError("an unbounded Kinesis source never runs out of splits");
    }

    @Override
    public <T> void callAsync(Callable<T> callable, BiConsumer<T, Throwable> handler) {
        throw new AssertionError("the enumerator only uses the periodic callAsync");
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T> void callAsync(
            Callable<T> callable, BiConsumer<T, Throwable> handler, long initialDelay, long period) {
        this.discovery = (Callable<Object>) callable;
        this.onDiscovered = (BiConsumer<Object, Throwable>) handler;
    }

    @Override
    public void runInCoordinatorThread(Runnable runnable) {
        runnable.run();
    }
}
