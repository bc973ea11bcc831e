package io.stload.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** What leaves the engine: its own errors unchanged, I/O as Io, a bug as Internal, never relabelled. */
class LoadErrorsTest {
    @Test
    void aKindAndFileGivenWhereTheErrorHappenedAreKept() {
        StloadException e = new StloadException(ErrorKind.Io, Path.of("a.safetensors"), "short read");
        assertSame(e, LoadErrors.convert(e));
    }

    @Test
    void anIoErrorWithoutAFileIsStillIo() {
        assertEquals(ErrorKind.Io, LoadErrors.convert(new IOException("disk gone")).kind());
        assertEquals(ErrorKind.Io, LoadErrors.convert(new InterruptedException()).kind());
    }

    @Test
    void anUnexpectedRuntimeExceptionIsABugNotAnIoError() {
        StloadException e = LoadErrors.convert(new NullPointerException("s is null"));
        assertEquals(ErrorKind.Internal, e.kind());
        assertEquals(ErrorKind.Category.INTERNAL, e.kind().category);
        assertTrue(e.getMessage().contains("NullPointerException: s is null"), e.getMessage());
    }

    @Test
    void runningOutOfHeapIsOutOfMemoryAndOtherErrorsPassThrough() {
        assertEquals(ErrorKind.OutOfMemory, LoadErrors.convert(new OutOfMemoryError("Java heap space")).kind());
        assertThrows(StackOverflowError.class, () -> LoadErrors.convert(new StackOverflowError()));
    }

    /** A write into memory the destination freed meanwhile (its arena closed by another thread) is its failure. */
    @Test
    void aWriteIntoMemoryTheDestinationFreedIsTheDestinationsFailure() {
        Arena arena = Arena.ofShared();
        MemorySegment into = arena.allocate(8);
        IllegalStateException inUse = new IllegalStateException("the engine's own");
        assertEquals(null, Delivery.freedByDestination(into, inUse), "alive: not the destination's doing");
        arena.close();
        IllegalStateException closed = assertThrows(IllegalStateException.class, () -> into.set(
                java.lang.foreign.ValueLayout.JAVA_BYTE, 0, (byte) 1));
        StloadException e = Delivery.freedByDestination(into, closed);
        assertEquals(ErrorKind.Callback, e.kind(), e.getMessage());
        assertSame(closed, e.getCause());
    }
}
