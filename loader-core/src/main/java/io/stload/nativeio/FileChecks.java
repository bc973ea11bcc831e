package io.stload.nativeio;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.IOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Locale;

/**
 * Checks a path's type before anything opens it: open(2) of a FIFO for reading waits for a writer, forever,
 * and a device or socket is no checkpoint either. stat(2) never blocks, so every reader of a user-named file
 * asks here first. Also words an I/O failure the way a person needs it (a symlink loop, permission denied).
 */
public final class FileChecks {
    private static final int S_IFMT = 0170000;
    private static final int S_IFIFO = 0010000;
    private static final int S_IFCHR = 0020000;
    private static final int S_IFBLK = 0060000;
    private static final int S_IFSOCK = 0140000;

    private FileChecks() {
    }

    /**
     * The path a user typed. An empty one is refused rather than taken as the working folder, as {@link Path#of}
     * takes it: {@code stload load "$MODEL"} with the variable unset would otherwise load whatever lies there.
     *
     * @param text what the user typed
     * @param what what it names, for the error: "checkpoint", "partition rules file"
     * @return the path
     * @throws StloadException {@link ErrorKind#Usage} if {@code text} is empty, or holds what no path can (a NUL)
     */
    public static Path userPath(String text, String what) {
        if (text.isEmpty()) {
            throw StloadException.usage("the " + what + " path is empty; for the working folder, say `.`");
        }
        try {
            return kernelPath(Path.of(text));
        } catch (InvalidPathException e) {
            throw StloadException.usage("`" + text + "` cannot name a " + what + ": " + e.getReason()
                    + namesEncodingHint());
        }
    }

    /**
     * Why a name with letters outside ASCII may not map to a file: a JVM takes file names in the encoding of its
     * locale, fixed at its start, and in the C or POSIX locale (a container with no LANG, say) that is ASCII.
     */
    private static String namesEncodingHint() {
        String names = System.getProperty("sun.jnu.encoding", "UTF-8");
        return names.equalsIgnoreCase("UTF-8") ? "" : " (this JVM takes file names as " + names
                + ", from its locale; start it under a UTF-8 one, e.g. LC_CTYPE=C.UTF-8)";
    }

    /**
     * {@code path} as the kernel takes it: a {@code ..} goes up from where the links before it lead, as open(2) and
     * mkdir(2) take it, not from the name before it, as {@link Path#normalize()} does (so {@code link/../x} is beside
     * the link's target, not beside the link). A path without a {@code ..} is returned as it is, links and all; one
     * with is made absolute, its part up to the last {@code ..} resolved as far as it exists (beyond that, where no
     * link can be, or where it does not resolve at all, a loop, a file before the {@code ..}, textually: more leniently
     * than open(2), which refuses those).
     *
     * @param path a path a user gave
     * @return a path without {@code ..} that names what {@code path} names
     */
    public static Path kernelPath(Path path) {
        int last = -1;
        for (int i = 0; i < path.getNameCount(); i++) {
            if (path.getName(i).toString().equals("..")) {
                last = i;
            }
        }
        if (last < 0) {
            return path;
        }
        Path absolute = path.toAbsolutePath();
        int offset = absolute.getNameCount() - path.getNameCount();
        Path upTo = absolute.getRoot().resolve(absolute.subpath(0, offset + last + 1));
        Path existing = upTo;
        while (existing.getParent() != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        Path resolved;
        try {
            resolved = existing.toRealPath().resolve(existing.relativize(upTo)).normalize();
        } catch (IOException e) {
            resolved = upTo.normalize(); // not to be resolved (no permission on the way): textually
        }
        return offset + last + 1 == absolute.getNameCount() ? resolved
                : resolved.resolve(absolute.subpath(offset + last + 1, absolute.getNameCount()));
    }

    /** The file's attributes (symlinks followed) when it is a regular file; else {@link ErrorKind#Io}, one line. */
    public static BasicFileAttributes requireRegularFile(Path file) {
        BasicFileAttributes a = stat(file);
        if (!a.isRegularFile()) {
            throw refused(file, a, "a regular file");
        }
        return a;
    }

    /**
     * Refuses a FIFO, device or socket at {@code path} ({@link ErrorKind#Io}, one line); nothing there, a regular
     * file, a directory or a symlink (not followed) passes, for the caller to handle.
     */
    public static void refuseSpecialFile(Path path) {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            return;
        }
        if (a.isOther()) {
            throw refused(path, a, "a regular file");
        }
    }

    /** As {@link #requireRegularFile}, but a directory is accepted too. */
    public static BasicFileAttributes requireFileOrDirectory(Path path) {
        BasicFileAttributes a = stat(path);
        if (!a.isRegularFile() && !a.isDirectory()) {
            throw refused(path, a, "a regular file or directory");
        }
        return a;
    }

    /** stat(2), symlinks followed; a failure is {@link ErrorKind#Io} with {@link #reason}. */
    public static BasicFileAttributes stat(Path path) {
        try {
            return Files.readAttributes(path, BasicFileAttributes.class);
        } catch (IOException e) {
            throw failure(path, "", e);
        }
    }

    /**
     * A lock file must be a regular file, not a symlink: opening a FIFO waits for a writer, a lock probe must never
     * wait, and a record written through a symlink would overwrite its target.
     */
    static void requireLockableFile(Path file) throws IOException {
        if (!Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).isRegularFile()) {
            throw new IOException(file + ": not a regular file; refusing to open it as a lock");
        }
    }

    /**
     * An I/O failure on {@code file}, as {@link ErrorKind#Io} naming it: what was being done and {@link #reason}. A
     * channel interrupted mid-read (it closes itself then) is no fault of the file: that is reported as the interrupt,
     * naming no file, an {@link InterruptedException} its cause and the thread's interrupt flag still set.
     *
     * @param doing what failed ("cannot read"), or empty for the reason alone
     */
    public static StloadException failure(Path file, String doing, IOException e) {
        if (e instanceof ClosedByInterruptException) {
            InterruptedException interrupt = new InterruptedException("interrupted at " + file);
            interrupt.initCause(e);
            return new StloadException(ErrorKind.Io, null, "interrupted at " + file, interrupt);
        }
        return new StloadException(ErrorKind.Io, file, doing.isEmpty() ? reason(e) : doing + ": " + reason(e), e);
    }

    /** What went wrong, in a few words: "no such file or directory", "permission denied", "a symlink loop ...". */
    public static String reason(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof FileSystemException fse && fse.getReason() == null && fse.getFile() != null) {
            // The JDK's message is then only the path: say what is wrong with it.
            String what = switch (e) {
                // createDirectories says so of a file where a folder was to be.
                case FileAlreadyExistsException x -> Files.isRegularFile(Path.of(fse.getFile()))
                        ? "already exists and is not a directory" : "already exists";
                case NotDirectoryException x -> "is not a directory";
                case DirectoryNotEmptyException x -> "is not empty";
                default -> e.getClass().getSimpleName();
            };
            return fse.getFile() + " " + what;
        }
        String why = e instanceof FileSystemException fse && fse.getReason() != null ? fse.getReason() : e.getMessage();
        if (why == null) {
            return e.getClass().getSimpleName();
        }
        if (why.toLowerCase(Locale.ROOT).contains("too many levels of symbolic links")) {
            return "a symlink loop (too many levels of symbolic links)";
        }
        return why;
    }

    private static StloadException refused(Path path, BasicFileAttributes a, String wanted) {
        return new StloadException(ErrorKind.Io, path, "is " + describe(path, a) + ", not " + wanted
                + "; refusing to open it");
    }

    private static String describe(Path path, BasicFileAttributes a) {
        try {
            int mode = (Integer) Files.getAttribute(path, "unix:mode");
            return switch (mode & S_IFMT) {
                case S_IFIFO -> "a FIFO (named pipe)";
                case S_IFCHR -> "a character device";
                case S_IFBLK -> "a block device";
                case S_IFSOCK -> "a socket";
                default -> a.isDirectory() ? "a directory" : "a special file";
            };
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return a.isDirectory() ? "a directory" : "a special file";
        }
    }
}
