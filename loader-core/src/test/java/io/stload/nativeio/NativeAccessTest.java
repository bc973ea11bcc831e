package io.stload.nativeio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class NativeAccessTest {
    private static final int BLOCK = 4096;
    private static final boolean LINUX = System.getProperty("os.name").equals("Linux");

    @TempDir
    Path dir;

    static Stream<NativeAccess> implementations() {
        return Stream.of(NativeAccess.get(), new FallbackNativeAccess("test"));
    }

    /**
     * An allocation is one mapping, and small ones merge with each other: a host load holds one allocation per shard,
     * and a load of tens of thousands of shards, at two or three mappings each, went past vm.max_map_count, where
     * the JVM aborted (it could not map a thread's stack). Counted in /proc/self/maps, before and after.
     */
    @Test
    void allocationsAddFewMappingsWhateverTheirNumber() throws IOException {
        NativeAccess os = NativeAccess.get();
        assumeTrue(LINUX && os.isNative(), "mappings are counted on Linux, with native access");
        try (Arena arena = Arena.ofShared()) {
            long before = Files.readAllLines(Path.of("/proc/self/maps")).size();
            for (int i = 0; i < 400; i++) {
                os.allocate(64 << 10, arena);
            }
            for (int i = 0; i < 20; i++) {
                MemorySegment large = os.allocate((3L << 20) + 12345, arena);
                assertEquals(0, large.address() % (2L << 20), "a large allocation starts on a huge page");
            }
            long added = Files.readAllLines(Path.of("/proc/self/maps")).size() - before;
            assertTrue(added < 100, added + " mappings for 420 allocations");
        }
    }


    @Test
    void nativeOnLinux() {
        assumeTrue(LINUX);
        NativeAccess access = NativeAccess.get();
        assertTrue(access.isNative(), access.fallbackReason());
        assertNull(access.fallbackReason());
        assertTrue(access.pageSize() >= 4096 && Integer.bitCount(access.pageSize()) == 1);
    }

    @Test
    void fallbackSaysWhy() {
        NativeAccess fallback = new FallbackNativeAccess("native access disabled: test");
        assertFalse(fallback.isNative());
        assertEquals("native access disabled: test", fallback.fallbackReason());
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void readsWholeAndPartialBlocks(NativeAccess access) throws IOException {
        byte[] data = randomBytes(3 * BLOCK + 123);
        Path file = Files.write(dir.resolve("data.bin"), data);
        for (boolean direct : new boolean[] {false, true}) {
            try (NativeFile f = access.open(file, direct); Arena arena = Arena.ofConfined()) {
                assertEquals(data.length, f.size());
                if (!access.isNative() || !direct) {
                    assertFalse(f.isDirect());
                }
                MemorySegment whole = arena.allocate(4 * BLOCK, BLOCK);
                assertEquals(data.length, f.read(whole, 0), "reads up to the end of the file");
                assertArrayEquals(data, whole.asSlice(0, data.length).toArray(ValueLayout.JAVA_BYTE));

                MemorySegment second = arena.allocate(BLOCK, BLOCK);
                assertEquals(BLOCK, f.read(second, BLOCK));
                assertArrayEquals(Arrays.copyOfRange(data, BLOCK, 2 * BLOCK), second.toArray(ValueLayout.JAVA_BYTE));

                assertEquals(0, f.read(second, 4 * BLOCK), "nothing past the end");
            }
        }
    }

    @Test
    void directIsGrantedOnDiskFilesystems() throws IOException {
        assumeTrue(LINUX);
        NativeAccess access = NativeAccess.get();
        Path file = Files.write(dir.resolve("direct.bin"), randomBytes(2 * BLOCK));
        String fs = access.statfs(file).name();
        assumeTrue(fs.equals("ext4") || fs.equals("xfs"), "temp dir is on " + fs);
        try (NativeFile f = access.open(file, true); Arena arena = Arena.ofConfined()) {
            assertTrue(f.isDirect());
            assertTrue(f.directAlignment() >= 4096 && Integer.bitCount(f.directAlignment()) == 1);
            MemorySegment aligned = arena.allocate(2 * BLOCK, BLOCK);
            assertThrows(IllegalArgumentException.class, () -> f.read(aligned.asSlice(0, 100), 0));
            assertThrows(IllegalArgumentException.class, () -> f.read(aligned.asSlice(0, BLOCK), 512));
            assertThrows(IllegalArgumentException.class, () -> f.read(aligned.asSlice(1, BLOCK), 0));
        }
    }

    @Test
    void refusedDirectFallsBackToBufferedDescriptor() throws IOException {
        assumeTrue(LINUX);
        // procfs answers O_DIRECT with EINVAL, as older tmpfs and some fuse filesystems do.
        try (NativeFile f = NativeAccess.get().open(Path.of("/proc/self/mountinfo"), true);
                Arena arena = Arena.ofConfined()) {
            assertFalse(f.isDirect());
            MemorySegment buf = arena.allocate(BLOCK, BLOCK);
            assertTrue(f.read(buf, 0) > 0);
            assertTrue(Character.isDigit(buf.get(ValueLayout.JAVA_BYTE, 0)));
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void readsAndNamesTmpfs(NativeAccess access) throws IOException {
        Path shm = Path.of("/dev/shm");
        assumeTrue(Files.isDirectory(shm) && Files.isWritable(shm));
        byte[] data = randomBytes(2 * BLOCK);
        Path file = Files.createTempFile(shm, "nativeio-test", ".bin");
        try {
            Files.write(file, data);
            // Linux 6.6+ tmpfs accepts O_DIRECT, earlier ones refuse it; either way the bytes must come back.
            try (NativeFile f = access.open(file, true); Arena arena = Arena.ofConfined()) {
                MemorySegment buf = arena.allocate(data.length, BLOCK);
                assertEquals(data.length, f.read(buf, 0));
                assertArrayEquals(data, buf.toArray(ValueLayout.JAVA_BYTE));
            }
            FsStat stat = access.statfs(file);
            assertEquals("tmpfs", stat.name());
            assertEquals(0x01021994L, stat.type());
            assertTrue(stat.isRam());
            assertFalse(stat.isNetwork());
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void adviceIsGivenOnlyNatively(NativeAccess access) throws IOException {
        Path file = Files.write(dir.resolve("advice.bin"), randomBytes(4 * BLOCK));
        try (NativeFile f = access.open(file, false)) {
            assertEquals(access.isNative(), f.fadvise(0, 4 * BLOCK, FileAdvice.SEQUENTIAL));
            assertEquals(access.isNative(), f.fadvise(0, 0, FileAdvice.WILLNEED));
            assertEquals(access.isNative(), f.readahead(0, 4 * BLOCK));
        }
    }

    @Test
    void populatedMappingIsResident() throws IOException {
        assumeTrue(LINUX);
        NativeAccess access = NativeAccess.get();
        int pages = 64;
        Path file = Files.write(dir.resolve("mapped.bin"), randomBytes(pages * BLOCK));
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            MemorySegment mapping = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            assertTrue(access.madvise(mapping, MemoryAdvice.SEQUENTIAL));
            assertTrue(access.madvise(mapping, MemoryAdvice.WILLNEED));
            // An unaligned slice must be rounded out to whole pages, or the kernel says EINVAL.
            assertTrue(access.madvise(mapping.asSlice(100, 3 * BLOCK), MemoryAdvice.WILLNEED));
            assumeTrue(access.madvise(mapping, MemoryAdvice.POPULATE_READ), "kernel before 5.14");
            assertEquals(1.0, access.residentFraction(mapping, 1024), "whole-range mincore");
            assertEquals(1.0, access.residentFraction(mapping, 8), "sampled windows");
            assertEquals(1.0, access.residentFraction(mapping.asSlice(BLOCK + 1, 10), 1));
        }
    }

    @Test
    void droppedPagesAreNotResidentUntilPopulated() throws IOException {
        assumeTrue(LINUX);
        NativeAccess access = NativeAccess.get();
        Path file = Files.write(dir.resolve("cold.bin"), randomBytes(32 * BLOCK));
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
                NativeFile f = access.open(file, false);
                Arena arena = Arena.ofConfined()) {
            channel.force(true); // only clean pages can be dropped
            assertTrue(f.fadvise(0, 0, FileAdvice.DONTNEED));
            MemorySegment mapping = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            double cold = access.residentFraction(mapping, 8);
            assertTrue(cold >= 0 && cold < 0.5, "resident after DONTNEED: " + cold);
            assumeTrue(access.madvise(mapping, MemoryAdvice.POPULATE_READ), "kernel before 5.14");
            assertEquals(1.0, access.residentFraction(mapping, 8));
        }
    }

    @Test
    void populateReadsExactlyItsRangeNotTheNeighbours() throws IOException {
        assumeTrue(LINUX);
        NativeAccess access = NativeAccess.get();
        long mib = 1 << 20;
        Path file = Files.write(dir.resolve("ranks.bin"), randomBytes((int) (24 * mib)));
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
                NativeFile f = access.open(file, false);
                Arena arena = Arena.ofConfined()) {
            channel.force(true);
            assertTrue(f.fadvise(0, 0, FileAdvice.DONTNEED));
            MemorySegment mapping = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            assumeTrue(access.residentFraction(mapping, 6144) == 0, "pages could not be dropped here");
            MemorySegment range = mapping.asSlice(8 * mib, mib / 2);
            assumeTrue(access.populate(range), "kernel before 5.14");
            assertEquals(1.0, access.residentFraction(range, 128));
            // A fault's read-around would have pulled in megabytes on either side (8 MiB on a disk whose
            // read-ahead is 8 MiB): one neighbouring rank's bytes.
            assertEquals(0.0, access.residentFraction(mapping.asSlice(0, 7 * mib), 1792), "before the range");
            assertEquals(0.0, access.residentFraction(mapping.asSlice(9 * mib + mib / 2, 14 * mib + mib / 2), 3712),
                    "after the range");
        }
    }

    @Test
    void fallbackNeitherAdvisesNorKnowsResidency() throws IOException {
        NativeAccess fallback = new FallbackNativeAccess("test");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment segment = arena.allocate(BLOCK);
            assertFalse(fallback.madvise(segment, MemoryAdvice.WILLNEED));
            assertEquals(-1, fallback.residentFraction(segment, 8));
        }
        assertEquals(4096, fallback.pageSize());
    }

    @Test
    void nativeAndFallbackAgreeOnTheTempDirsFilesystem() throws IOException {
        assumeTrue(LINUX);
        FsStat nativeStat = NativeAccess.get().statfs(dir);
        FsStat fallbackStat = new FallbackNativeAccess("test").statfs(dir);
        assertNotNull(nativeStat.name());
        assertFalse(nativeStat.name().equals("unknown"), nativeStat.toString());
        assertEquals(nativeStat.name(), fallbackStat.name());
        assertTrue(nativeStat.blockSize() > 0);
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void missingFilesAreNoSuchFile(NativeAccess access) {
        Path missing = dir.resolve("missing.bin");
        assertThrows(NoSuchFileException.class, () -> access.open(missing, false));
        assertThrows(NoSuchFileException.class, () -> access.open(missing, true));
        assertThrows(NoSuchFileException.class, () -> access.statfs(missing));
    }

    @Test
    void nativeReadsRejectHeapSegmentsAndClosedFiles() throws IOException {
        assumeTrue(LINUX);
        Path file = Files.write(dir.resolve("small.bin"), randomBytes(BLOCK));
        NativeFile f = NativeAccess.get().open(file, false);
        assertThrows(IllegalArgumentException.class, () -> f.read(MemorySegment.ofArray(new byte[16]), 0));
        f.close();
        f.close();
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IOException.class, () -> f.read(arena.allocate(16), 0));
        }
        assertFalse(f.readahead(0, BLOCK));
    }

    private static byte[] randomBytes(int n) {
        byte[] bytes = new byte[n];
        new Random(n).nextBytes(bytes);
        return bytes;
    }

    @Test
    void onlyTheErrnosOfAKernelWithoutTheAdviceMeanUnsupported() throws IOException {
        assertTrue(PosixNativeAccess.adviceTaken(() -> 0, MemoryAdvice.WILLNEED));
        assertFalse(PosixNativeAccess.adviceTaken(() -> -LibC.EINVAL, MemoryAdvice.POPULATE_READ));
        assertFalse(PosixNativeAccess.adviceTaken(() -> -LibC.ENOSYS, MemoryAdvice.POPULATE_READ));
        for (int errno : new int[] {LibC.EPERM, LibC.EIO, LibC.EFAULT, LibC.ENOMEM, 133 /* EHWPOISON */}) {
            IOException e = assertThrows(IOException.class,
                    () -> PosixNativeAccess.adviceTaken(() -> -errno, MemoryAdvice.POPULATE_READ), "errno " + errno);
            assertTrue(e.getMessage().contains("errno " + errno), e.getMessage());
        }
    }

    @Test
    void anInterruptedAdviceIsAskedAgain() throws IOException {
        int[] calls = {0};
        assertTrue(PosixNativeAccess.adviceTaken(() -> ++calls[0] < 3 ? -LibC.EINTR : 0, MemoryAdvice.POPULATE_READ));
        assertEquals(3, calls[0]);
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void aLockFileThatIsASymlinkOrAFifoIsRefused(NativeAccess access) throws Exception {
        Path target = Files.writeString(dir.resolve("someone-elses"), "x");
        Path link = Files.createSymbolicLink(dir.resolve("link.lock"), target);
        IOException e = assertThrows(IOException.class, () -> access.tryLock(link, false));
        assertTrue(e.getMessage().contains("link.lock"), e.getMessage());
        assumeTrue(LINUX);
        Path fifo = dir.resolve("fifo.lock");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        // Would block forever in open(2) without O_NONBLOCK, were it not refused.
        assertThrows(IOException.class, () -> access.tryLock(fifo, false));
    }
}
