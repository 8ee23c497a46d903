package com.ssmas.yield.connectors.monitoring;

import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

import javax.annotation.Nullable;

/**
 * {@code COUNT_IF(condition, 'metricName')}: returns the condition unchanged and, when it is
 * TRUE, adds one to the job counter of that name ({@link JobMetrics}). Used as a filter, e.g.
 * {@code WHERE COUNT_IF(<late>, 'recordsLate')}, so a figure decided in SQL is counted where it
 * is decided. Not deterministic, so the planner neither folds nor duplicates the call.
 */
public class CountIf extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    private transient JobMetrics metrics;

    @Override
    public void open(FunctionContext context) {
        metrics = new JobMetrics(context.getMetricGroup());
    }

    public @Nullable Boolean eval(@Nullable Boolean condition, String metricName) {
        if (Boolean.TRUE.equals(condition) && metrics != null) {
            metrics.count(metricName);
        }
        return condition;
    }

    @Override
    public boolean isDeterministic() {
        return false;
    }
}
