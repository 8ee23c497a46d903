package com.ssmas.yield.connectors.monitoring;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;

import javax.annotation.Nullable;

import java.util.Arrays;

/**
 * {@code DRIFT_HISTOGRAM_<feature>(value)}, an instance of this class per feature built with the
 * feature's edges ({@code new DriftHistogram("e0,e1,...")}): counts a window's values of one drift feature into
 * the fixed cells of its bin grid (udfs/drift.py, schemas/drift_features.json), so the per-event
 * work of drift detection stays in the JVM and the state is the counts, never the values.
 *
 * <p>With k ascending edges there are 2k + 1 cells: cell 2i holds the values in the open interval
 * (e[i-1], e[i]) (e[-1] = -inf, e[k] = +inf) and cell 2i + 1 the values exactly equal to e[i].
 * NULL and NaN values count nowhere. The same rule as {@code udfs.drift.cell_index}; the edges
 * string is Python's repr of each double, which {@link Double#parseDouble} reads back exactly.
 *
 * <pre>
 * tableEnv.createTemporarySystemFunction("DRIFT_HISTOGRAM_cpm_eur", new DriftHistogram("0.01,0.0101,..."));
 * SELECT window_start, DRIFT_HISTOGRAM_cpm_eur(cpm_eur) FROM TABLE(TUMBLE(...)) GROUP BY ...
 * </pre>
 */
// The accumulator is a RAW value: the planner keeps the Java object as it is between records
// instead of converting thousands of cells to and from its internal row format on every call
// (measured: that conversion made the aggregate ~9x slower than a SUM).
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = DriftHistogram.Cells.class),
        output = @DataTypeHint(value = "ARRAY<BIGINT NOT NULL>", bridgedTo = long[].class))
public class DriftHistogram extends AggregateFunction<long[], DriftHistogram.Cells> {

    private static final long serialVersionUID = 1L;

    /** The accumulator: one counter per cell (8 bytes each, whatever the traffic). */
    public static class Cells {
        public long[] cells = new long[0];
    }

    // The grid is fixed when the function is created (one instance per feature, registered by
    // flink_jobs/drift_graph.py), not passed per call: an aggregate's constant argument is
    // projected into every input row, and a 25 KB literal per row and feature cost ~10x.
    private final double[] edges;

    public DriftHistogram(String edgesText) {
        this.edges = parseEdges(edgesText);
    }

    @Override
    public Cells createAccumulator() {
        return new Cells();
    }

    public void accumulate(Cells acc, @Nullable Double value) {
        double[] grid = edges;
        if (acc.cells.length != 2 * grid.length + 1) {
            acc.cells = Arrays.copyOf(acc.cells, 2 * grid.length + 1);
        }
        if (value == null || value.isNaN()) {
            return;
        }
        acc.cells[cellOf(grid, value + 0.0)]++; // + 0.0 turns -0.0 into 0.0, as numpy compares
    }

    public void merge(Cells acc, Iterable<Cells> others) {
        for (Cells other : others) {
            if (acc.cells.length < other.cells.length) {
                acc.cells = Arrays.copyOf(acc.cells, other.cells.length);
            }
            for (int i = 0; i < other.cells.length; i++) {
                acc.cells[i] += other.cells[i];
            }
        }
    }

    @Override
    public long[] getValue(Cells acc) {
        return acc.cells.clone();
    }

    /** 2i for a value in (e[i-1], e[i]), 2i + 1 for a value equal to e[i]. */
    static int cellOf(double[] grid, double value) {
        int found = Arrays.binarySearch(grid, value);
        if (found >= 0) {
            return 2 * found + 1;
        }
        int firstAbove = -found - 1;
        return 2 * firstAbove;
    }

    static double[] parseEdges(String text) {
        String[] parts = text.split(",");
        double[] parsed = new double[parts.length];
        for (int i = 0; i < parts.length; i++) {
            parsed[i] = Double.parseDouble(parts[i].trim());
            if (i > 0 && !(parsed[i] > parsed[i - 1])) {
                throw new IllegalArgumentException(
                        "DRIFT_HISTOGRAM edges must be strictly ascending; edge " + i + " is " + parts[i]);
            }
        }
        return parsed;
    }
}
