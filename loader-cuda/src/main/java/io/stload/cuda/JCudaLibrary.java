package io.stload.cuda;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Set;

/**
 * JCuda's runtime native library, put in place by stload before the first JCuda call. JCuda's own loader
 * writes the library into {@code java.io.tmpdir} in place and loads any file of that name that merely exists:
 * ranks started together read each other's half-written file (SIGSEGV), and a truncated leftover crashes every
 * later run in the dynamic loader (SIGBUS). Here the library is written once per user and JCuda version to a
 * temporary file in a folder of the user's own, then renamed over the final name, which is atomic: a process
 * sees no file or a whole one, and a mapped old file is never changed under a process that loaded it. A file
 * there that differs from the library in the jar (a leftover, or a copy cut short) is replaced the same way.
 * JCuda then loads that file: it looks for the library in {@code java.io.tmpdir}, which points at the folder
 * while JCuda's classes initialize.
 */
final class JCudaLibrary {
    /** The folder to extract the library to, when the default (under java.io.tmpdir) cannot run code. */
    static final String DIR_PROPERTY = "stload.jcuda.dir";

    private static final FileAttribute<Set<PosixFilePermission>> OWNER_ONLY =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));

    private static Throwable failure;
    private static boolean loaded;

    private JCudaLibrary() {
    }

    /** Loads the library once per process; a failure is one line, kind NoDevice, and stays the answer. */
    static synchronized void load() {
        if (!loaded) {
            if (failure == null) {
                try {
                    loadFrom(folder());
                    loaded = true;
                } catch (StloadException | LinkageError e) {
                    failure = e;
                }
            }
            if (failure != null) {
                throw failure instanceof StloadException se ? se : new StloadException(ErrorKind.NoDevice, null,
                        "cannot load the CUDA bindings (JCuda): " + firstLine(failure), failure);
            }
        }
    }

    /** {@code -Dstload.jcuda.dir}, else {@code <java.io.tmpdir>/stload-<user>/jcuda-<version>}. */
    static Path folder() {
        String configured = System.getProperty(DIR_PROPERTY);
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured);
        }
        return Path.of(System.getProperty("java.io.tmpdir"), "stload-" + System.getProperty("user.name"),
                "jcuda-" + jcuda.JCudaVersion.get());
    }

    /** The library's file name, as JCuda names it for this platform. */
    static String fileName() {
        String arch = switch (System.getProperty("os.arch", "")) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64" -> "aarch64";
            default -> System.getProperty("os.arch");
        };
        return "libJCudaRuntime-" + jcuda.JCudaVersion.get() + "-linux-" + arch + ".so";
    }

    /** Extracts (when needed) and loads the library in {@code dir}, then lets JCuda's classes find it there. */
    static void loadFrom(Path dir) {
        Path library = extract(dir);
        try {
            System.load(library.toString());
        } catch (UnsatisfiedLinkError e) {
            throw new StloadException(ErrorKind.NoDevice, library, loadFailure(dir, e), e);
        }
        String tmpdir = System.getProperty("java.io.tmpdir");
        System.setProperty("java.io.tmpdir", dir.toString());
        try {
            Class.forName("jcuda.runtime.JCuda", true, JCudaLibrary.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new StloadException(ErrorKind.NoDevice, null, "the CUDA bindings (JCuda) are not on the class path");
        } finally {
            System.setProperty("java.io.tmpdir", tmpdir);
        }
    }

    /** The one line for a library that would not load; a noexec folder is the usual cause and has a remedy. */
    static String loadFailure(Path dir, UnsatisfiedLinkError e) {
        String why = firstLine(e);
        boolean noExec = why.contains("failed to map segment") || why.contains("Operation not permitted");
        return "cannot load the CUDA bindings (JCuda): " + why + (noExec ? "; " + dir + " may be on a noexec "
                + "filesystem: set -D" + DIR_PROPERTY + "=<a folder that allows running code> (e.g. in STLOAD_JAVA_OPTS)"
                : "");
    }

    /** The final file, whole and equal to the jar's copy, written by this call or an earlier one. */
    static Path extract(Path dir) {
        String name = fileName();
        byte[] library = resource(name);
        Path target = dir.resolve(name);
        try {
            ownFolder(dir);
            if (sameContent(target, library)) {
                return target;
            }
            Path temp = Files.createTempFile(dir, name + ".", ".partial");
            try {
                try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                    ByteBuffer bytes = ByteBuffer.wrap(library);
                    while (bytes.hasRemaining()) {
                        ch.write(bytes);
                    }
                    ch.force(true);
                }
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(temp);
            }
            return target;
        } catch (AtomicMoveNotSupportedException e) {
            throw new StloadException(ErrorKind.NoDevice, dir, "cannot put the CUDA bindings' library in place "
                    + "atomically here; set -D" + DIR_PROPERTY + " to a folder on a local filesystem", e);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.NoDevice, dir, "cannot extract the CUDA bindings' library: "
                    + firstLine(e) + "; set -D" + DIR_PROPERTY + " to a writable folder of your own", e);
        }
    }

    /**
     * Makes the folder (only the user may write to what it creates), and refuses one that is a symlink or not the
     * user's: another user could otherwise swap the library that this process runs.
     */
    private static void ownFolder(Path dir) throws IOException {
        Path parent = dir.toAbsolutePath().getParent();
        for (Path d : parent == null ? new Path[] {dir} : new Path[] {parent, dir}) {
            if (!Files.exists(d, LinkOption.NOFOLLOW_LINKS)) {
                try {
                    Files.createDirectory(d, OWNER_ONLY);
                } catch (FileAlreadyExistsException e) {
                    // Another process made it at the same moment.
                }
            }
        }
        BasicFileAttributes a = Files.readAttributes(dir, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!a.isDirectory()) {
            throw new IOException(dir + " is not a directory (a symlink or a file)");
        }
        // By uid, not name: a container's user may have no name. /proc/self belongs to the process's own uid.
        Object owner = Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        Object me = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        if (!owner.equals(me)) {
            throw new IOException(dir + " belongs to uid " + owner + ", not to this process's uid " + me);
        }
    }

    private static boolean sameContent(Path file, byte[] expected) throws IOException {
        try {
            if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) || Files.size(file) != expected.length) {
                return false;
            }
            return Arrays.equals(Files.readAllBytes(file), expected);
        } catch (NoSuchFileException e) {
            return false;
        }
    }

    private static byte[] resource(String name) {
        // Through the class loader: Class.getResourceAsStream from a named module looks in that module only, and on
        // the module path the library lies in JCuda's natives jar, an automatic module of its own.
        try (InputStream in = JCudaLibrary.class.getClassLoader().getResourceAsStream("lib/" + name)) {
            if (in == null) {
                throw new StloadException(ErrorKind.NoDevice, null, "the CUDA bindings (JCuda) have no native library "
                        + "for this platform (" + name + " is not on the class path)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new StloadException(ErrorKind.NoDevice, null, "cannot read the CUDA bindings' native library: "
                    + firstLine(e), e);
        }
    }

    /** The first line of the root cause's message (JCuda's own errors run to 50 lines), or its type when it has none. */
    static String firstLine(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage();
        if (message == null || message.isBlank()) {
            return root.getClass().getSimpleName();
        }
        String first = message.strip().lines().findFirst().orElse(message);
        // A file system's error says only the path: its type is the reason (NoSuchFileException: /proc/nope).
        return root instanceof FileSystemException fse && fse.getReason() == null
                ? root.getClass().getSimpleName().replace("Exception", "") + ": " + first : first;
    }
}
