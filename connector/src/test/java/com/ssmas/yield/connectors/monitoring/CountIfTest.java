package com.ssmas.yield.connectors.monitoring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.ssmas.yield.connectors.RecordingMetricGroup;

import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.functions.FunctionContext;

import org.junit.jupiter.api.Test;

/** COUNT_IF(condition, 'recordsLate') filters like its condition and counts the TRUEs as a job metric. */
class CountIfTest {

    @Test
    void returnsTheConditionAndCountsOnlyTrue() {
        RecordingMetricGroup metrics = new RecordingMetricGroup();
        CountIf countIf = new CountIf();
        countIf.open(new FunctionContext(null) {
            @Override
            public MetricGroup getMetricGroup() {
                return metrics;
            }
        });

        assertEquals(Boolean.TRUE, countIf.eval(true, "recordsLate"));
        assertEquals(Boolean.TRUE, countIf.eval(true, "recordsLate"));
        assertEquals(Boolean.FALSE, countIf.eval(false, "recordsLate"));
        assertNull(countIf.eval(null, "recordsLate"), "NULL stays NULL, as a WHERE treats it as false");

        assertEquals(2, metrics.count("kinesisanalytics.recordsLate"));
        assertFalse(countIf.isDeterministic(), "the planner must neither fold nor duplicate the call");
    }
}
