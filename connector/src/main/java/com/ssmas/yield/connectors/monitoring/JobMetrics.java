package com.ssmas.yield.connectors.monitoring;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;

import java.util.HashMap;
import java.util.Map;

/**
 * The job's operational counters, in the metric group that Amazon Managed Service for Apache
 * Flink forwards to CloudWatch: a user group named {@code kinesisanalytics} (namespace
 * AWS/KinesisAnalytics; every {@code addGroup(key, value)} below it becomes a dimension).
 *
 * <ul>
 *   <li>{@code recordsRead}, {@code recordsAccepted}: every record the validation sees, and those
 *       without a reject reason;
 *   <li>{@code recordsRejected}: in total (what the rejected-rate alarm reads), and again with the
 *       dimension {@code RejectReason} (e.g. {@code NOT_JSON}, {@code MISSING_FIELD:country};
 *       bounded by the schema's fields and checks);
 *   <li>{@code recordsLate}: accepted records already behind the watermark (raw_late/).
 * </ul>
 */
public final class JobMetrics {

    public static final String GROUP = "kinesisanalytics";
    public static final String REASON_DIMENSION = "RejectReason";

    private final MetricGroup group;
    private final Map<String, Counter> counters = new HashMap<>();
    private final Map<String, Counter> rejected = new HashMap<>();

    public JobMetrics(MetricGroup operatorGroup) {
        this.group = operatorGroup.addGroup(GROUP);
    }

    public void count(String name) {
        counters.computeIfAbsent(name, group::counter).inc();
    }

    public void countRejected(String reason) {
        count("recordsRejected");
        rejected.computeIfAbsent(reason, r -> group.addGroup(REASON_DIMENSION, r).counter("recordsRejected")).inc();
    }
}
