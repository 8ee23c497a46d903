package com.ssmas.yield.connectors;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A metric group that keeps every counter and gauge registered below it under its dotted path
 * (group names, then key.value for a dimension, then the metric name), so tests can read what
 * the connector counted, e.g. {@code kinesis.throttledRequests}.
 */
public final class RecordingMetricGroup extends UnregisteredMetricsGroup {

    private final String path;
    private final Map<String, Metric> metrics;

    public RecordingMetricGroup() {
        this("", new ConcurrentHashMap<>());
    }

    private RecordingMetricGroup(String path, Map<String, Metric> metrics) {
        this.path = path;
        this.metrics = metrics;
    }

    @Override
    public Counter counter(String name) {
        return counter(name, new SimpleCounter());
    }

    @Override
    public <C extends Counter> C counter(String name, C counter) {
        metrics.put(path + name, counter);
        return counter;
    }

    @Override
    public <T, G extends Gauge<T>> G gauge(String name, G gauge) {
        metrics.put(path + name, gauge);
        return gauge;
    }

    @Override
    public MetricGroup addGroup(String name) {
        return new RecordingMetricGroup(path + name + ".", metrics);
    }

    @Override
    public MetricGroup addGroup(String key, String value) {
        return new RecordingMetricGroup(path + key + "." + value + ".", metrics);
    }

    /** The count of a counter, 0 when it was never registered. */
    public long count(String dottedName) {
        Metric m = metrics.get(dottedName);
        return m == null ? 0L : ((Counter) m).getCount();
    }

    /** The current value of a gauge, null when it was never registered. */
    public Object gaugeValue(String dottedName) {
        Metric m = metrics.get(dottedName);
        return m == null ? null : ((Gauge<?>) m).getValue();
    }
}
