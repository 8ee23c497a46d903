package com.ssmas.yield.connectors.kinesis;

import com.ssmas.yield.connectors.monitoring.JobMetrics;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The metrics of one source reader (subtask), registered once per reader and shared by the split
 * readers Flink creates for it over time (a fetcher left without shards is shut down and a new one
 * is created with the next shard; registering again would collide with the first registration).
 *
 * <ul>
 *   <li>under {@code kinesis}: {@code getRecordsCalls}, {@code recordsFetched}, {@code
 *       throttledRequests} (counters; Flink's metrics, not forwarded to CloudWatch by MSF);
 *   <li>under {@code kinesisanalytics} (the group MSF forwards to CloudWatch; a key/value group
 *       below it becomes a dimension): per shard {@code shardId=<id>} / {@code
 *       millisBehindLatest}, from the last GetRecords response; and {@code
 *       maxMillisBehindLatest}, the largest over the shards this reader reads, for an alarm that
 *       needs no shard ids. -1 while unknown: before a shard's first response, and for a shard
 *       this reader no longer reads.
 * </ul>
 */
final class KinesisReaderMetrics {

    static final long UNKNOWN_LAG = -1L;

    final Counter getRecordsCalls;
    final Counter recordsFetched;
    final Counter throttledRequests;

    private final MetricGroup lagGroup;
    /** millisBehindLatest of the shards this reader reads now. */
    private final Map<String, Long> lagByShard = new ConcurrentHashMap<>();
    private final Set<String> shardGauges = ConcurrentHashMap.newKeySet();

    KinesisReaderMetrics(MetricGroup readerGroup) {
        MetricGroup kinesis = readerGroup.addGroup("kinesis");
        this.getRecordsCalls = kinesis.counter("getRecordsCalls");
        this.recordsFetched = kinesis.counter("recordsFetched");
        this.throttledRequests = kinesis.counter("throttledRequests");
        this.lagGroup = readerGroup.addGroup(JobMetrics.GROUP);
        this.lagGroup.gauge("maxMillisBehindLatest", (Gauge<Long>) this::maxMillisBehindLatest);
    }

    /** The shard is read by this reader from now on; its lag is unknown until it answers. */
    void shardAssigned(String shardId) {
        lagByShard.put(shardId, UNKNOWN_LAG);
        if (shardGauges.add(shardId)) {
            lagGroup.addGroup("shardId", shardId)
                    .gauge(
                            "millisBehindLatest",
                            (Gauge<Long>) () -> lagByShard.getOrDefault(shardId, UNKNOWN_LAG));
        }
    }

    /** millisBehindLatest of the shard's last GetRecords response. */
    void lag(String shardId, long millisBehindLatest) {
        lagByShard.replace(shardId, millisBehindLatest);
    }

    /** The shard is finished or no longer this reader's: it leaves the maximum. */
    void shardReleased(String shardId) {
        lagByShard.remove(shardId);
    }

    long maxMillisBehindLatest() {
        long max = UNKNOWN_LAG;
        for (long lag : lagByShard.values()) {
            max = Math.max(max, lag);
        }
        return max;
    }
}
