package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Hugging Face hub cache directory: {@code models--org--name/refs/<revision>} holds a commit,
 * {@code snapshots/<commit>/} the repo's files as symlinks into {@code blobs/}, and {@code .locks/} the
 * locks downloads hold. Read only: the one file stload creates here is its own coordination lock, which
 * follows the hub's convention and lives beside the repo's download locks.
 *
 * @param root the cache directory, which holds the {@code models--org--name} folders
 */
record HubCache(Path root) {
    /** A ref holds a 40-character hash; huggingface_hub writes nothing else there. */
    private static final long MAX_REF_BYTES = 4096;

    /** The cache's folders are found from the root by name: a {@code ..} in it is taken as the kernel takes it. */
    HubCache {
        root = FileChecks.kernelPath(root);
    }

    /**
     * Finds the cache as huggingface_hub does: {@code cacheDir} when given, else HF_HUB_CACHE, else
     * HUGGINGFACE_HUB_CACHE (its older name), else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else
     * ~/.cache/huggingface/hub; in each variable a leading {@code ~} is the home folder and {@code $NAME} or
     * {@code ${NAME}} the variable's value (left as written where it is not set), the home folder being HOME where it
     * is set (a container's user need have no entry in /etc/passwd), else the JVM's {@code user.home}.
     *
     * @param cacheDir an explicit cache directory, or null
     * @param env      the environment to read (normally {@link System#getenv()})
     * @return the cache; it need not exist
     */
    public static HubCache locate(Path cacheDir, Map<String, String> env) {
        return locate(cacheDir, env, System.getProperty("user.home", "?"));
    }

    /** {@link #locate(Path, Map)} for a user whose entry names {@code userHome} ({@code ?}: none), for tests. */
    static HubCache locate(Path cacheDir, Map<String, String> env, String userHome) {
        if (cacheDir != null) {
            return new HubCache(cacheDir);
        }
        for (String name : List.of("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")) {
            if (nonEmpty(env.get(name))) {
                return new HubCache(expand(name, env, userHome));
            }
        }
        Path hfHome = nonEmpty(env.get("HF_HOME")) ? expand("HF_HOME", env, userHome)
                : nonEmpty(env.get("XDG_CACHE_HOME")) ? expand("XDG_CACHE_HOME", env, userHome).resolve("huggingface")
                : home(env, userHome).resolve(".cache").resolve("huggingface");
        return new HubCache(hfHome.resolve("hub"));
    }

    /**
     * The home folder as Python's {@code expanduser} finds it: HOME, else the user's entry (the JVM's user.home). A
     * user with neither (a container's random uid, HOME unset) has none: the JVM's {@code ?} would be a folder of
     * that name in the working folder.
     */
    private static Path home(Map<String, String> env, String entry) {
        if (nonEmpty(env.get("HOME"))) {
            return pathOf(env.get("HOME"), "HOME");
        }
        if (entry.equals("?") || !entry.startsWith("/")) {
            throw StloadException.usage("no hub cache to look in: HOME is not set and this user has no home folder "
                    + "(no entry in /etc/passwd); set HF_HUB_CACHE or HOME, or pass --cache-dir");
        }
        return Path.of(entry);
    }

    private static final Pattern VARIABLE = Pattern.compile("\\$(\\w+|\\{([^}]*)})");

    /** {@code expandvars(expanduser(path))} of the variable {@code name}, as huggingface_hub reads its variables. */
    private static Path expand(String name, Map<String, String> env, String userHome) {
        String path = env.get(name);
        String user = path.equals("~") || path.startsWith("~/") ? home(env, userHome) + path.substring(1) : path;
        return pathOf(VARIABLE.matcher(user).replaceAll(m -> {
            String value = env.get(m.group(2) != null ? m.group(2) : m.group(1));
            return Matcher.quoteReplacement(value != null ? value : m.group());
        }), name);
    }

    /** A variable's path; one this JVM cannot take (its locale's encoding) is a usage error naming the variable. */
    private static Path pathOf(String text, String variable) {
        return FileChecks.userPath(text, "hub cache folder (from " + variable + ")");
    }

    private static boolean nonEmpty(String s) {
        return s != null && !s.isEmpty();
    }

    /**
     * Names a repo's folder in the cache.
     *
     * @param repo the repo
     * @return {@code root/models--org--name}
     */
    public Path repoDir(RepoRef repo) {
        return root.resolve(repo.folderName());
    }

    /**
     * Names the folder where huggingface_hub keeps the per-file locks of a repo's downloads.
     *
     * @param repo the repo
     * @return {@code root/.locks/models--org--name}
     */
    public Path downloadLocks(RepoRef repo) {
        return root.resolve(".locks").resolve(repo.folderName());
    }

    /** Names stload's own lock files in a repo's lock folder, which are no download's. */
    static final String OWN_LOCK_PREFIX = "stload-";

    /**
     * Names stload's node-wide lock for one repo at one commit, in {@code .locks/<repo folder>/} as the hub's are.
     *
     * @param repo   the repo
     * @param commit the commit hash
     * @return the lock file
     */
    public Path coordinationLock(RepoRef repo, String commit) {
        return downloadLocks(repo).resolve(OWN_LOCK_PREFIX + "deep-check-" + commit + ".lock");
    }

    /**
     * The snapshot a revision names. A ref or snapshot not (yet) in the cache is a {@link ErrorKind#MissingShard},
     * which a caller may wait out while a download is running.
     *
     * @param repo the repo and revision
     * @return the snapshot
     * @throws StloadException {@link ErrorKind#MissingShard} when the ref or snapshot is absent;
     *                         {@link ErrorKind#InvalidRef} or {@link ErrorKind#UnsafePath} for a ref that is not a
     *                         commit hash inside {@code refs/}, or for {@code blobs/} that is a link leading out of
     *                         the repo folder; {@link ErrorKind#Io} when it cannot be read
     */
    public HubSnapshot snapshot(RepoRef repo) {
        Path repoDir = repoDir(repo);
        String commit = repo.revisionIsCommit() ? repo.revision() : readRef(repo, repoDir);
        Path dir = repoDir.resolve("snapshots").resolve(commit);
        if (!Files.isDirectory(dir)) {
            throw new StloadException(ErrorKind.MissingShard, dir, repo.id() + " has no snapshot of commit " + commit
                    + " in the cache; fetch it with `" + repo.fetchCommand(commit) + "`");
        }
        HubSnapshot.blobsInside(repoDir);
        return new HubSnapshot(repo, repoDir, commit, dir);
    }

    private static String readRef(RepoRef repo, Path repoDir) {
        Path ref = repoDir.resolve("refs").resolve(repo.revision()).normalize();
        if (!ref.startsWith(repoDir.resolve("refs"))) {
            throw new StloadException(ErrorKind.UnsafePath, ref, "revision `" + repo.revision() + "` escapes refs/");
        }
        if (!Files.exists(ref, LinkOption.NOFOLLOW_LINKS)) {
            throw new StloadException(ErrorKind.MissingShard, ref, repo + " is not in the cache; fetch it with `"
                    + repo.fetchCommand(repo.revision()) + "`");
        }
        // Checked before anything is read, and the content is never echoed: a ref may be a link to any file.
        try {
            Path real = ref.toRealPath();
            if (!real.startsWith(repoDir.resolve("refs").toRealPath())) {
                throw invalidRef(ref, "is a link to a file outside refs/");
            }
            BasicFileAttributes a = Files.readAttributes(real, BasicFileAttributes.class);
            if (!a.isRegularFile() || a.size() > MAX_REF_BYTES) {
                throw invalidRef(ref, "is not a regular file of at most " + MAX_REF_BYTES + " bytes");
            }
            String commit = Files.readString(real, StandardCharsets.ISO_8859_1).strip();
            if (!new RepoRef(repo.org(), repo.name(), commit).revisionIsCommit()) {
                throw invalidRef(ref, "does not hold a 40-digit commit hash");
            }
            return commit;
        } catch (IOException e) {
            throw FileChecks.failure(ref, "cannot read ref", e);
        }
    }

    private static StloadException invalidRef(Path ref, String why) {
        return new StloadException(ErrorKind.InvalidRef, ref, "ref " + why + "; fetch the revision again");
    }
}
