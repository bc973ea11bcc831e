package io.stload.report;

import java.util.Locale;

/**
 * A part of a load that the report times. {@link #PLAN} is wall time; the others are thread-seconds summed over
 * the threads that did them, so they may add up to more than the load's wall time.
 */
public enum Phase {
    /** Choosing strategies and laying out the rank's reads (wall time). */
    PLAN,
    /** Reading file bytes into memory: positional reads, page-cache population, faults of the mapping. */
    IO,
    /** Copying bytes from where they were read to where the destination keeps them. */
    COPY,
    /** Consumers waiting for their slices' bytes. */
    WAIT,
    /** Pinning the device destination's staging memory (once per ring, not per load). */
    PIN,
    /** Host-to-device copies of the device destination. */
    H2D,
    /** Reads of the device destination waiting for a free staging window. */
    STAGE_WAIT;

    /** {@return the name as reports print it, e.g. {@code stage-wait}} */
    public String jsonName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
}
