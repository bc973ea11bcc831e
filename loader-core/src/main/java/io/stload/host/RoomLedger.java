package io.stload.host;

import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * What the loads of one memory cgroup were let in for and have not yet allocated, shared by the group's processes
 * through a small file of their own in {@code /dev/shm}. Ranks started together in one container each find the room
 * the group leaves, and without this each would count all of it as its own: together they take more than the limit,
 * and the kernel kills them. A load is let in on the room less what the others still have to allocate, under the
 * file's lock, and takes itself out when it ends; a load whose process died is passed over.
 *
 * <p>The file holds a line per load: pid, the process's start, a token, the bytes it was let in for and its anonymous
 * memory then; what it still has to allocate is those bytes less what its anonymous memory grew by since. Where the
 * file cannot be had (no {@code /dev/shm}, another user's file), a load is let in on the room alone.
 *
 * <p>Whether a load is under way is told by a lock, not by its pid: each load holds flock(2) on a file of its own
 * beside the ledger (the ledger's name, a dot and its token), which goes with its process however that ends. A pid
 * says nothing across PID namespaces, and processes that share a memory cgroup and {@code /dev/shm} may not share one:
 * a live load in another namespace would be taken for dead, and the room it still needs given away. Only where that
 * file cannot be had is the pid asked (gone, reused or a zombie: dead), and what a load still has to allocate is read
 * from {@code /proc} only where its pid is the very process that wrote the line.
 */
public final class RoomLedger {
    private static final Path SHM = Path.of("/dev/shm");
    /** One lock for the loads of this JVM: a file lock is the process's, so its threads take turns before it. */
    private static final Object IN_PROCESS = new Object();
    /** The tokens of this process's loads whose marks it holds (a mark is not asked by its own holder). */
    private static final Set<Long> MARKED_HERE = new HashSet<>();
    private static final long LOCK_WAIT_NANOS = 10_000_000_000L;
    private static final int MAX_READ_BYTES = 64 << 10;
    private static final int STICKY = 01000;

    private RoomLedger() {
    }

    /**
     * The outcome of asking to be let in.
     *
     * @param admitted    whether the load fits beside the others
     * @param roomBytes   the anonymous room the group leaves now, -1 when nothing bounds it
     * @param othersBytes what the other loads of the group still have to allocate
     * @param others      how many other loads of the group are under way
     * @param release     takes the load out of the ledger (does nothing where it was not put in)
     */
    public record Admission(boolean admitted, long roomBytes, long othersBytes, int others, Runnable release) {
    }

    /**
     * Lets a load in where the group's room, less what the other loads of the group still have to allocate, holds
     * {@code unavoidable}, and records that it will allocate {@code needed}.
     *
     * @param threads     the load's threads ({@link MemoryHeadroom#anonymousRoomBytes(int)})
     * @param unavoidable the bytes it holds at one moment however it goes
     * @param needed      the most it allocates for itself
     * @return the outcome; admitted, with nothing recorded, where nothing bounds the process or no ledger can be had
     */
    public static Admission admit(int threads, long unavoidable, long needed) {
        MemoryHeadroom headroom = MemoryHeadroom.read();
        Optional<Path> file = Optional.ofNullable(headroom.roomGroup()).flatMap(RoomLedger::fileOf);
        if (file.isEmpty()) {
            return alone(headroom, threads);
        }
        synchronized (IN_PROCESS) {
            Entry mine = null;
            HeldLock mark = null;
            try (FileChannel ch = open(file.get()); FileLock lock = lock(ch)) {
                List<Entry> live = live(file.get(), read(ch));
                long others = outstanding(live);
                // Read again under the lock: a load let in just before has grown since this process planned.
                long room = MemoryHeadroom.read().anonymousRoomBytes(threads);
                if (room >= 0 && unavoidable > room - others) {
                    try {
                        write(ch, live); // the dead, whose marks live() removed, go too
                    } catch (IOException | RuntimeException e) {
                        // Left for the next load to drop: the refusal stands.
                    }
                    return new Admission(false, room, others, live.size(), () -> { });
                }
                mine = new Entry(ProcessHandle.current().pid(), startOf(ProcessHandle.current()),
                        ThreadLocalRandom.current().nextLong(), needed, MemoryHeadroom.ownAnonymousBytes());
                mark = underWay(file.get(), mine);
                live.add(mine);
                write(ch, live);
                Path ledger = file.get();
                Entry admitted = mine;
                HeldLock held = mark;
                AtomicBoolean released = new AtomicBoolean();
                return new Admission(true, room, others, live.size() - 1, () -> {
                    if (released.compareAndSet(false, true)) { // the mark's descriptor is closed once
                        remove(ledger, admitted, held);
                    }
                });
            } catch (IOException | RuntimeException e) {
                if (mine != null) {
                    endMark(file.get(), mine, mark);
                }
                return alone(headroom, threads);
            }
        }
    }

    /** Let in on the room alone (its check is the caller's), with nothing recorded. */
    private static Admission alone(MemoryHeadroom headroom, int threads) {
        return new Admission(true, headroom.anonymousRoomBytes(threads), 0, 0, () -> { });
    }

    private static void remove(Path file, Entry mine, HeldLock mark) {
        synchronized (IN_PROCESS) {
            try (FileChannel ch = open(file); FileLock lock = lock(ch)) {
                List<Entry> live = live(file, read(ch));
                live.removeIf(e -> e.token() == mine.token());
                write(ch, live);
            } catch (IOException | RuntimeException e) {
                // Left behind, the line is passed over once this process has ended.
            } finally {
                endMark(file, mine, mark);
            }
        }
    }

    /**
     * The mark of a load under way: its own file beside the ledger, made anew and held with flock(2) until the load
     * ends; null where it cannot be had (the file, or a lock that holds something), and the pid then stands for it.
     */
    private static HeldLock underWay(Path ledger, Entry load) {
        if (!NativeAccess.get().locksInteroperateWithFlock()) {
            return null;
        }
        Path mark = markOf(ledger, load);
        try {
            createOwn(mark).close();
            HeldLock held = NativeAccess.get().tryLock(mark, true);
            if (held == null) {
                Files.delete(mark);
            } else {
                MARKED_HERE.add(load.token());
            }
            return held;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static void endMark(Path ledger, Entry load, HeldLock mark) {
        if (mark != null) {
            MARKED_HERE.remove(load.token());
            try {
                Files.deleteIfExists(markOf(ledger, load)); // while still held: no other load takes it for a dead one's
            } catch (IOException | RuntimeException e) {
                // Left behind, the mark is removed by the next load that finds it free.
            } finally {
                try {
                    mark.close();
                } catch (IOException | RuntimeException e) {
                    // The lock goes with the process.
                }
            }
        }
    }

    static Path markOf(Path ledger, Entry load) {
        return ledger.resolveSibling(ledger.getFileName() + "." + Long.toHexString(load.token()));
    }

    /**
     * Where the ledger of a group lives: a file of at most a line per load under way, left empty in {@code /dev/shm}
     * between loads (a container's {@code /dev/shm} goes with it).
     *
     * @param groupDir the cgroup's directory, as {@link MemoryHeadroom#roomGroup()} names it
     * @return the file; empty where {@code /dev/shm} is missing or lets others replace a user's file (not sticky)
     */
    public static Optional<Path> fileOf(Path groupDir) {
        try {
            if (!Files.isDirectory(SHM) || ((int) Files.getAttribute(SHM, "unix:mode") & STICKY) == 0) {
                return Optional.empty();
            }
            byte[] id = MessageDigest.getInstance("SHA-256").digest(groupDir.toString().getBytes(StandardCharsets.UTF_8));
            return Optional.of(SHM.resolve("stload-memcg-" + HexFormat.of().formatHex(id, 0, 8)));
        } catch (IOException | NoSuchAlgorithmException | UnsupportedOperationException | IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /**
     * Opens the ledger as a file of the user's, never through a link: one this call makes, or one the user owned
     * already. In a sticky directory nobody else can put a file of theirs in place of the user's between the check and
     * the open, so a file another user planted is never written, not even by root.
     */
    static FileChannel open(Path file) throws IOException {
        try {
            return createOwn(file);
        } catch (FileAlreadyExistsException e) {
            Optional<String> notOwn = notOwn(file);
            if (notOwn.isPresent()) {
                throw new IOException(file + " " + notOwn.get());
            }
            return FileChannel.open(file, Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE,
                    LinkOption.NOFOLLOW_LINKS));
        }
    }

    /** A file made anew, never through a link, that only the user may read and write. */
    private static FileChannel createOwn(Path file) throws IOException {
        return FileChannel.open(file, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    }

    /**
     * Why {@code file} is not a file of the user's own, as the ledger and its marks must be; empty when it is. A
     * second name of a file of the user's, linked there by someone else (where the kernel lets anyone link to a file
     * they do not own), is not: writing the ledger would overwrite that file.
     */
    private static Optional<String> notOwn(Path file) throws IOException {
        if (!Files.getOwner(file, LinkOption.NOFOLLOW_LINKS).equals(Files.getOwner(Path.of("/proc/self")))) {
            return Optional.of("belongs to another user");
        }
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)
                || (int) Files.getAttribute(file, "unix:nlink", LinkOption.NOFOLLOW_LINKS) != 1) {
            return Optional.of("is not a ledger this user made");
        }
        return Optional.empty();
    }

    /**
     * The ledger's lock, held by others only while they read and write a few lines; one that stays held (its process
     * stopped) is waited for 10 s, after which the load does without the ledger.
     */
    private static FileLock lock(FileChannel ch) throws IOException {
        long deadline = System.nanoTime() + LOCK_WAIT_NANOS;
        FileLock lock;
        while ((lock = ch.tryLock()) == null) {
            if (System.nanoTime() - deadline > 0) {
                throw new IOException("the ledger stayed locked");
            }
            LockSupport.parkNanos(10_000_000); // a file lock has no event to wait on
        }
        return lock;
    }

    /**
     * The file's first 64 KiB, some 1,000 lines: more loads than a group runs at once. A longer file was not written
     * by loads, and what lies past them is dropped when the file is written again.
     */
    private static List<Entry> read(FileChannel ch) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(ch.size(), MAX_READ_BYTES));
        ch.read(buf, 0);
        List<Entry> entries = new ArrayList<>();
        for (String line : new String(buf.array(), 0, buf.position(), StandardCharsets.US_ASCII).split("\n")) {
            Entry.parse(line).ifPresent(entries::add);
        }
        return entries;
    }

    private static void write(FileChannel ch, List<Entry> entries) throws IOException {
        StringBuilder text = new StringBuilder();
        entries.forEach(e -> text.append(e.line()).append('\n'));
        ch.truncate(0);
        ch.write(ByteBuffer.wrap(text.toString().getBytes(StandardCharsets.US_ASCII)), 0);
    }

    /**
     * The loads still under way: those this process marked, those whose mark another process holds locked, and where a
     * load has no mark to ask, those whose process still runs (the one that wrote the line, and not a zombie). The
     * mark of a load found dead is removed.
     */
    static List<Entry> live(Path ledger, List<Entry> entries) {
        List<Entry> live = new ArrayList<>();
        for (Entry e : entries) {
            Boolean held = MARKED_HERE.contains(e.token()) ? Boolean.TRUE : markHeld(markOf(ledger, e));
            if (held != null ? held : e.isWriterRunning() && !ended(e.pid())) {
                live.add(e);
            }
        }
        return live;
    }

    /**
     * Whether another process holds the mark locked; null where there is none to ask, or none that vouches for a load:
     * a mark is this user's regular file of one name, as the ledger is, since anyone may make a file of that name in
     * {@code /dev/shm} and hold it locked. A free mark is removed.
     */
    private static Boolean markHeld(Path mark) {
        if (!NativeAccess.get().locksInteroperateWithFlock()) {
            return null;
        }
        try {
            if (notOwn(mark).isPresent()) {
                return null;
            }
            HeldLock free = NativeAccess.get().tryLock(mark, true);
            if (free == null) {
                return true;
            }
            try (free) {
                Files.delete(mark); // its load's process has ended
            }
            return false;
        } catch (IOException | RuntimeException e) {
            return null; // another user's, say
        }
    }

    /**
     * Whether the process has exited and only waits to be reaped (state Z or X in {@code /proc/PID/stat}): it holds
     * no memory and allocates none, though the JDK counts it alive (a launcher that waits for its ranks in order
     * leaves a killed one so).
     */
    private static boolean ended(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII);
            int name = stat.lastIndexOf(')'); // the command name, in parentheses, may hold anything
            char state = name >= 0 && name + 2 < stat.length() ? stat.charAt(name + 2) : '?';
            return state == 'Z' || state == 'X';
        } catch (IOException e) {
            return false; // no /proc to ask: the JDK's word stands
        }
    }

    /** What the loads still have to allocate, all together; past {@code Long.MAX_VALUE}, that. */
    static long outstanding(List<Entry> loads) {
        long sum = 0;
        for (Entry e : loads) {
            sum += e.outstanding();
            if (sum < 0) {
                return Long.MAX_VALUE;
            }
        }
        return sum;
    }

    private static long startOf(ProcessHandle p) {
        return p.info().startInstant().map(Instant::toEpochMilli).orElse(-1L);
    }

    /**
     * A load under way: {@code needed} bytes to allocate from when its process held {@code anonAtAdmission} (-1 where
     * that could not be read).
     */
    record Entry(long pid, long start, long token, long needed, long anonAtAdmission) {
        /** The line's load; empty for a line no load wrote (a count out of range, too few or too many fields). */
        static Optional<Entry> parse(String line) {
            String[] f = line.strip().split(" ");
            if (f.length != 5) {
                return Optional.empty();
            }
            try {
                Entry entry = new Entry(Long.parseLong(f[0]), Long.parseLong(f[1]), Long.parseLong(f[2]),
                        Long.parseLong(f[3]), Long.parseLong(f[4]));
                return entry.pid() > 0 && entry.needed() >= 0 && entry.anonAtAdmission() >= -1 ? Optional.of(entry)
                        : Optional.empty();
            } catch (NumberFormatException e) {
                return Optional.empty();
            }
        }

        String line() {
            return pid + " " + start + " " + token + " " + needed + " " + anonAtAdmission;
        }

        /** Whether the pid names, in this PID namespace, the process that wrote the line (the same start). */
        boolean isWriterRunning() {
            return ProcessHandle.of(pid).filter(p -> p.isAlive() && startOf(p) == start).isPresent();
        }

        /**
         * What it still has to allocate: all of it where its process's memory cannot be read, or the pid is not its
         * process here (another PID namespace's).
         */
        long outstanding() {
            long now = isWriterRunning()
                    ? MemoryHeadroom.anonymousBytesOf(Path.of("/proc", Long.toString(pid), "status")) : -1;
            if (now < 0 || anonAtAdmission < 0) {
                return needed;
            }
            return Math.max(0, needed - Math.max(0, now - anonAtAdmission));
        }
    }
}
