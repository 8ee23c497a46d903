package com.ssmas.yield.connectors.monitoring;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import java.util.List;

/**
 * DRIFT_HISTOGRAM's cell rule (the same as udfs.drift.cell_index): with k edges there are 2k + 1
 * cells, cell 2i for the open interval below edge i, cell 2i + 1 for the edge itself, cell 2k for
 * everything above the last edge.
 */
class DriftHistogramTest {

    // a CPM grid in EUR, as Python's repr writes it
    private final DriftHistogram cpmEur = new DriftHistogram("0.0, 0.5,1.0,2.5");

    private long[] histogramOf(Double... values) {
        DriftHistogram.Cells cells = cpmEur.createAccumulator();
        for (Double v : values) {
            cpmEur.accumulate(cells, v);
        }
        return cpmEur.getValue(cells);
    }

    @Test
    void valuesBetweenEdgesAndOnEdgesGoToTheirOwnCells() {
        //                                below 0   =0  (0,.5) =.5 (.5,1) =1 (1,2.5) =2.5  above
        assertArrayEquals(new long[] {1, 0, 0, 0, 0, 0, 0, 0, 0}, histogramOf(-0.01));
        assertArrayEquals(new long[] {0, 1, 0, 0, 0, 0, 0, 0, 0}, histogramOf(0.0));
        assertArrayEquals(new long[] {0, 0, 1, 0, 0, 0, 0, 0, 0}, histogramOf(0.25));
        assertArrayEquals(new long[] {0, 0, 0, 1, 0, 0, 0, 0, 0}, histogramOf(0.5));
        assertArrayEquals(new long[] {0, 0, 0, 0, 0, 1, 0, 0, 0}, histogramOf(1.0));
        assertArrayEquals(new long[] {0, 0, 0, 0, 0, 0, 1, 0, 0}, histogramOf(Math.nextUp(1.0)));
        assertArrayEquals(new long[] {0, 0, 0, 0, 0, 0, 0, 1, 0}, histogramOf(2.5));
        assertArrayEquals(new long[] {0, 0, 0, 0, 0, 0, 0, 0, 1}, histogramOf(1e9));
        assertArrayEquals(new long[] {0, 0, 0, 0, 0, 0, 0, 0, 1}, histogramOf(Double.POSITIVE_INFINITY));
    }

    @Test
    void aWindowIsCountedCellByCell() {
        assertArrayEquals(new long[] {0, 2, 1, 0, 3, 0, 0, 0, 1},
                histogramOf(0.0, 0.1, 0.7, 0.0, 0.8, 0.99, 7.0));
    }

    @Test
    void negativeZeroIsTheZeroEdgeAndNullOrNaNCountNowhere() {
        assertArrayEquals(new long[] {0, 1, 0, 0, 0, 0, 0, 0, 0}, histogramOf(-0.0));
        assertArrayEquals(new long[9], histogramOf(null, Double.NaN), "an empty window still has every cell");
    }

    @Test
    void partialCountsMergeCellByCell() {
        DriftHistogram.Cells left = cpmEur.createAccumulator();
        cpmEur.accumulate(left, 0.25);
        DriftHistogram.Cells right = cpmEur.createAccumulator();
        cpmEur.accumulate(right, 0.25);
        cpmEur.accumulate(right, 3.0);
        DriftHistogram.Cells empty = cpmEur.createAccumulator();

        cpmEur.merge(left, List.of(right, empty));
        assertArrayEquals(new long[] {0, 0, 2, 0, 0, 0, 0, 0, 1}, cpmEur.getValue(left));
    }

    @Test
    void theResultIsACopyOfTheCounts() {
        DriftHistogram.Cells cells = cpmEur.createAccumulator();
        cpmEur.accumulate(cells, 0.25);
        long[] emitted = cpmEur.getValue(cells);
        cpmEur.accumulate(cells, 0.25);
        assertEquals(1, emitted[2], "a value emitted for a window does not change afterwards");
    }

    @Test
    void edgesMustBeStrictlyAscending() {
        IllegalArgumentException refused =
                assertThrows(IllegalArgumentException.class, () -> new DriftHistogram("0.0,1.0,1.0"));
        assertTrue(refused.getMessage().contains("edge 2"), refused.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new DriftHistogram("1.0,0.5"));
        assertThrows(NumberFormatException.class, () -> new DriftHistogram("0.0,abc"));
    }
}
