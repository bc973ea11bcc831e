package io.stload.io;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.format.RangeSource;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.ByteRange;
import io.stload.plan.FilePlan;
import io.stload.plan.ReadRanges;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.stream.LongStream;

/**
 * {@code direct}: positional reads of large blocks covering the plan's ranges, several in flight, through a
 * {@link RangeSource} per file (for a local file, O_DIRECT, bypassing the page cache, else buffered pread). It
 * also reads {@code mmap}'s files when their pages are in memory and memory is not short ({@link Engine}): buffered
 * reads then copy the pages out of the page cache straight into the destination.
 * Sources are opened as the plan reaches their files, a bounded number at once ({@link OpenFiles}), so a
 * checkpoint of tens of thousands of shards does not run out of descriptors.
 * Where the destination gives memory for a block (host memory mirroring the file, a staging window, a large
 * slice's own buffer, at whose ends the blocks are cut), the read lands there: no bounce buffer, no copy.
 * Otherwise each block lands in one of a few reusable bounce buffers, one per I/O thread at most, and the
 * destination takes its slices' parts from it. Where the destination would hold what a block brings until each
 * slice's consumer comes, and consumers ask out of file order, a window holds one slice instead
 * ({@link #heldOutOfOrder}), read with at most an aligned block more at each end.
 */
final class DirectReader extends WindowedReader {
    /** Opens a file for positional reads of whole blocks of the given size. */
    @FunctionalInterface
    interface Sources {
        RangeSource open(Header file, long blockBytes) throws IOException;

        static Sources local(NativeAccess os) {
            return (h, block) -> LocalRangeSource.open(os, h, block);
        }

        /** Local files read out of the page cache (buffered pread), for files whose pages are in memory. */
        static Sources buffered(NativeAccess os) {
            return (h, block) -> LocalRangeSource.buffered(os, h);
        }
    }

    private final NativeAccess os;
    private final OpenFiles<RangeSource> sources;
    /** Per file, the alignment its reads were laid out for when the reader was made. */
    private final long[] alignment;
    private final Map<Header, String> notes = new ConcurrentHashMap<>();
    private final long blockBytes;
    private final long bounceBytes;
    private final Arena bounceArena = Arena.ofShared();
    private final LinkedBlockingQueue<MemorySegment> bounceBuffers = new LinkedBlockingQueue<>();
    /** The most bounce buffers allocated: one per I/O thread, unless a memory cgroup leaves room for fewer. */
    private final long mostBounceBuffers;
    /** Guarded by {@link #bounceArena}. */
    private long allocatedBounceBuffers;

    DirectReader(NativeAccess os, Sources opener, List<FilePlan> files, Delivery destination,
                 List<TensorSlice> slices, long blockBytes, long maxGap, int ioThreads, IoStats stats)
            throws IOException {
        this(os, opener, files, destination, slices, blockBytes, blockBytes, maxGap, ioThreads, stats);
    }

    /**
     * As above, with a window that does not land in place read through its bounce buffer {@code bounceBlock} bytes
     * at a time (at most the block): the slices take each part while it is still in the cache, and the buffers stay
     * small whatever the block.
     */
    DirectReader(NativeAccess os, Sources opener, List<FilePlan> files, Delivery destination,
                 List<TensorSlice> slices, long blockBytes, long bounceBlock, long maxGap, int ioThreads,
                 IoStats stats) throws IOException {
        super(files.stream().map(FilePlan::file).toList(), destination, ioThreads, stats);
        this.os = os;
        this.blockBytes = destination.windowBytes(blockBytes);
        this.alignment = new long[files.size()];
        this.sources = new OpenFiles<>(OpenFiles.boundFor(ioThreads), f -> open(opener, f), RangeSource::close);
        try {
            for (int f = 0; f < files.size(); f++) {
                // Opened once here for its alignment (and to fail before any read if it cannot be); it stays open
                // unless more files than the bound follow, and is opened again when its reads come.
                sources.acquire(f);
                sources.release(f);
            }
        } catch (InterruptedException e) {
            close();
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while opening the checkpoint's files");
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
        // A window's read widened to whole aligned blocks at both ends, for windows that hold one slice.
        this.bounceBytes = Math.min(this.blockBytes, bounceBlock) + 2 * Arrays.stream(alignment).max().orElse(1);
        // Half the room the destination leaves: the rest is the runtime's to grow into.
        long room = destination.roomBesideHeld();
        this.mostBounceBuffers = room < 0 ? Long.MAX_VALUE : Math.max(1, room / 2 / bounceBytes);
        List<List<ByteRange>> ranges;
        if (heldOutOfOrder(slices)) {
            ranges = rangesPerSlice(files, slices, maxGap);
        } else {
            // Aligned reads cover whole blocks: the last may reach past the end of the file.
            ranges = new ArrayList<>();
            for (int f = 0; f < files.size(); f++) {
                ranges.add(ReadRanges.aligned(files.get(f).reads(), alignment[f], Long.MAX_VALUE));
            }
        }
        layOut(cutAtInPlaceSlices(ranges, slices), this.blockBytes, Long.MAX_VALUE, slices);
    }

    /**
     * Cuts each file's ranges at both ends of every contiguous slice (or part of a fused one) the destination may
     * take reads for in place, rounded inward to the file's alignment: the windows between lie within the slice and
     * land in its memory, and only the partial block at each end goes through a bounce buffer.
     */
    private List<List<ByteRange>> cutAtInPlaceSlices(List<List<ByteRange>> ranges, List<TensorSlice> slices) {
        long least = destination.inPlaceSliceBytes();
        List<LongStream.Builder> points = new ArrayList<>();
        files.forEach(f -> points.add(LongStream.builder()));
        for (TensorSlice s : slices) {
            // Each contiguous part of a fused tensor's slice on its own: its windows land at the part's offset.
            for (TensorSlice.Part p : s.parts()) {
                if (p.isContiguous() && p.fileBytes() >= least) {
                    int f = fileIndexOf(s);
                    long from = (p.start() + alignment[f] - 1) / alignment[f] * alignment[f];
                    long to = p.fileEnd() / alignment[f] * alignment[f];
                    if (from < to) {
                        points.get(f).add(from).add(to);
                    }
                }
            }
        }
        List<List<ByteRange>> cut = new ArrayList<>();
        for (int f = 0; f < files.size(); f++) {
            cut.add(ReadRanges.cutAt(ranges.get(f), points.get(f).build().sorted().toArray()));
        }
        return cut;
    }

    /** Opens file {@code f}; a failure names the file, whichever thread reached it. */
    private RangeSource open(Sources opener, int f) throws IOException {
        Header h = files.get(f);
        RangeSource s;
        try {
            s = opener.open(h, blockBytes);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, h.file(), "cannot open: " + e.getMessage(), e);
        }
        if (alignment[f] == 0) {
            alignment[f] = s.alignment();
        } else if (alignment[f] % s.alignment() != 0) {
            s.close();
            throw new StloadException(ErrorKind.Io, h.file(), "reopened, it needs " + s.alignment()
                    + "-byte aligned reads, not " + alignment[f] + " as when the load began");
        }
        if (s.note() != null) {
            notes.put(h, s.note());
        }
        return s;
    }

    @Override
    protected void transfer(Header file, Window w) throws IOException, InterruptedException {
        RangeSource source = sources.acquire(w.file());
        try {
            transfer(file, w, source);
        } finally {
            sources.release(w.file());
        }
    }

    /**
     * Reads window {@code w} in place where the destination gives aligned memory for it; else through a bounce
     * buffer, widened to whole aligned blocks (a window of one slice need not start or end on one), a buffer's worth
     * at a time, of which only the window's bytes go on.
     */
    private void transfer(Header file, Window w, RangeSource source) throws IOException, InterruptedException {
        long align = alignment[w.file()];
        long from = w.offset() / align * align;
        long to = (w.offset() + w.length() + align - 1) / align * align;
        long fileBytes = Math.min(w.length(), source.size() - w.offset());
        MemorySegment into = destination.readBuffer(file, w.offset(), w.length());
        boolean aligned = from == w.offset() && to == w.offset() + w.length();
        if (into != null && aligned && into.address() % source.alignment() == 0) {
            try {
                read(source, w.file(), from, into.asSlice(0, w.length()));
            } catch (IOException | RuntimeException e) {
                destination.abandon(into, e);
                throw e;
            }
            destination.filled(file, w.offset(), into.asSlice(0, fileBytes));
            return;
        }
        MemorySegment bounce;
        try {
            bounce = takeBounceBuffer();
        } catch (IOException | InterruptedException | RuntimeException e) {
            if (into != null) {
                destination.abandon(into, e);
            }
            throw e;
        }
        try {
            long step = bounce.byteSize() / align * align;
            long end = w.offset() + fileBytes;
            for (long at = from; at < end; at += step) {
                long n = Math.min(step, to - at);
                read(source, w.file(), at, bounce.asSlice(0, n));
                long lo = Math.max(at, w.offset());
                long hi = Math.min(at + n, end);
                MemorySegment bytes = bounce.asSlice(lo - at, hi - lo);
                if (into != null) {
                    MemorySegment.copy(bytes, 0, into, lo - w.offset(), hi - lo);
                } else {
                    destination.scatter(file, lo, bytes);
                }
            }
        } catch (IOException | RuntimeException e) {
            if (into != null) {
                destination.abandon(into, e);
            }
            throw e;
        } finally {
            bounceBuffers.add(bounce);
        }
        if (into != null) {
            destination.filled(file, w.offset(), into.asSlice(0, fileBytes));
        }
    }

    private void read(RangeSource source, int file, long offset, MemorySegment into) throws IOException {
        try {
            source.read(offset, into);
        } catch (IOException e) {
            // A local file's error is named by its path at the engine's edge; a source no path can name (a path
            // prints s3://bucket/key as s3:/bucket/key) is named here, by its own name.
            if (!source.name().equals(files.get(file).file().toString())) {
                throw namedBy(source, e);
            }
            throw e;
        }
        stats.bytesRead.add(Math.min(into.byteSize(), source.size() - offset));
        // A source may learn something while it reads (a server that refused a condition): its note as of now.
        String note = source.note();
        if (note != null && !note.equals(notes.get(files.get(file)))) {
            notes.put(files.get(file), note);
        }
    }

    private static StloadException namedBy(RangeSource source, IOException e) {
        String message = String.valueOf(e.getMessage());
        return new StloadException(ErrorKind.Io, null,
                message.startsWith(source.name()) ? message : source.name() + ": " + message, e);
    }

    /**
     * A free bounce buffer; allocated on first need, so a load whose reads all land in place has none, and waited for
     * once as many exist as the memory allows.
     */
    private MemorySegment takeBounceBuffer() throws IOException, InterruptedException {
        MemorySegment b = bounceBuffers.poll();
        if (b != null) {
            return b;
        }
        synchronized (bounceArena) {
            // Each I/O thread holds at most one: allocating never outgrows one per thread.
            if (allocatedBounceBuffers < mostBounceBuffers) {
                MemorySegment allocated = os.allocate(bounceBytes, bounceArena);
                allocatedBounceBuffers++;
                stats.readBufferBytes.add(bounceBytes);
                return allocated;
            }
        }
        return bounceBuffers.take(); // each read gives its buffer back when it ends
    }

    @Override
    Map<Header, String> notes() {
        return new IdentityHashMap<>(notes);
    }

    /** Only once no I/O thread runs: then no read can land in a freed buffer or use a closed descriptor. */
    @Override
    public void close() throws IOException {
        try {
            sources.close();
        } finally {
            bounceArena.close();
        }
    }
}
