package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The directories a checkpoint's files may really live in: the checkpoint directory itself, plus the repo's
 * {@code blobs/} for a hub snapshot. A file, or the symlink chain behind it, that lands anywhere else is
 * refused before it is opened.
 */
final class ContainedFiles {
    private final List<Path> lexicalRoots = new ArrayList<>();
    private final List<Path> realRoots = new ArrayList<>();

    ContainedFiles(List<Path> roots) {
        for (Path root : roots) {
            lexicalRoots.add(root.toAbsolutePath().normalize());
            try {
                realRoots.add(root.toRealPath());
            } catch (IOException e) {
                // A root that does not exist holds nothing; its files surface as missing.
            }
        }
    }

    /**
     * The real file behind {@code file}, or null when nothing is there. A symlink whose target leaves the
     * roots is {@link ErrorKind#UnsafePath}; one whose target does not exist is a {@link ErrorKind#MissingShard}
     * naming the target.
     */
    Path realFile(Path file, String hint) {
        Path absolute = file.toAbsolutePath().normalize();
        if (Files.isSymbolicLink(absolute)) {
            Path target;
            try {
                target = absolute.getParent().resolve(Files.readSymbolicLink(absolute)).normalize();
            } catch (IOException e) {
                throw new StloadException(ErrorKind.Io, file, "cannot read symlink: " + e.getMessage(), e);
            }
            boolean dangling = false;
            if (!Files.exists(absolute)) {
                try {
                    absolute.toRealPath();
                } catch (NoSuchFileException e) {
                    dangling = true;
                } catch (IOException e) {
                    // There, but not to be resolved: a symlink loop (a link to itself points nowhere, in the roots
                    // or out), a directory on the way that may not be read. Resolving opens no file.
                    throw FileChecks.failure(file, "", e);
                }
            }
            if (!inside(target, lexicalRoots) && !inside(target, realRoots)) {
                throw outside(file, target);
            }
            if (dangling) {
                throw new StloadException(ErrorKind.MissingShard, file, "dangling symlink: its target " + target
                        + " does not exist" + hint);
            }
        } else if (!Files.exists(absolute)) {
            return null;
        }
        Path real;
        try {
            real = absolute.toRealPath();
        } catch (IOException e) {
            throw FileChecks.failure(file, "cannot resolve", e);
        }
        if (!inside(real, realRoots)) {
            throw outside(file, real);
        }
        // A FIFO, device or socket is an I/O error like everywhere else (one line, exit 4); a directory where
        // the index names a file is the index's fault.
        FileChecks.refuseSpecialFile(real);
        if (!Files.isRegularFile(real)) {
            throw new StloadException(ErrorKind.InvalidIndex, file, "not a regular file");
        }
        return real;
    }

    private static boolean inside(Path p, List<Path> roots) {
        for (Path root : roots) {
            if (p.startsWith(root) && !p.equals(root)) {
                return true;
            }
        }
        return false;
    }

    private StloadException outside(Path file, Path target) {
        return new StloadException(ErrorKind.UnsafePath, file, "resolves to " + target + ", outside "
                + lexicalRoots.stream().map(Path::toString).reduce((a, b) -> a + " and " + b).orElse("")
                + "; refusing to open it");
    }
}
