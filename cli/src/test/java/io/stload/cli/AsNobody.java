package io.stload.cli;

import io.stload.testing.ChildJvm;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Runs the CLI in its own JVM as {@code nobody}, for the cases where permissions matter (root reads every
 * file). The class path is copied where nobody can read it, since the build's own copy may sit under a
 * private home directory.
 */
final class AsNobody {
    private AsNobody() {
    }

    /** Why this cannot run here, or empty when it can. */
    static Optional<String> unavailable() {
        if (!"root".equals(System.getProperty("user.name"))) {
            return Optional.of("switching to nobody needs root");
        }
        if (!Files.isExecutable(Path.of("/usr/bin/setpriv"))) {
            return Optional.of("setpriv is not installed");
        }
        return Optional.empty();
    }

    /**
     * Puts this JVM's class path into {@code dir}, readable by all, and returns the copy's class path. A file that is
     * readable by all already (most are: it is the folders above them that keep nobody out) is hard-linked rather than
     * copied, which saves copying a hundred megabytes of jars; the others, and any on another file system, are copied.
     */
    static String copyClassPath(Path dir) throws IOException {
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        List<String> entries = new ArrayList<>();
        int i = 0;
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path source = Path.of(entry);
            if (!Files.exists(source)) {
                continue;
            }
            Path target = dir.resolve(i++ + "-" + source.getFileName());
            try (Stream<Path> files = Files.walk(source)) {
                for (Path f : files.toList()) {
                    Path to = target.resolve(source.relativize(f).toString());
                    if (Files.isDirectory(f)) {
                        Files.createDirectories(to);
                        Files.setPosixFilePermissions(to, PosixFilePermissions.fromString("rwxr-xr-x"));
                    } else if (!readableByAll(f) || !linked(f, to)) {
                        // A link shares the file's permissions: only a copy may be given others' read.
                        Files.copy(f, to, StandardCopyOption.REPLACE_EXISTING);
                        Files.setPosixFilePermissions(to, PosixFilePermissions.fromString("rw-r--r--"));
                    }
                }
            }
            entries.add(target.toString());
        }
        return String.join(File.pathSeparator, entries);
    }

    private static boolean readableByAll(Path file) throws IOException {
        return Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)
                && Files.getPosixFilePermissions(file).contains(PosixFilePermission.OTHERS_READ);
    }

    /** Hard-links {@code to} to {@code file}; false where the file system will not (another device, say). */
    private static boolean linked(Path file, Path to) {
        try {
            Files.createLink(to, file);
            return true;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /** The CLI as nobody, on {@code classPath}; stdout and stderr go to the given files. */
    static Process cli(String classPath, Path stdout, Path stderr, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"));
        // No perf data file: the JVM would leave a /tmp/hsperfdata_nobody folder behind.
        command.addAll(ChildJvm.main(Main.class).classPath(classPath).options("-XX:-UsePerfData").args(args).command());
        return new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
    }
}
