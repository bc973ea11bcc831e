package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Hugging Face model repository named as {@code org/name[@revision]}; without a revision, {@code main}.
 * A revision of 40 hex digits is a commit and is used as such, without consulting {@code refs/}.
 *
 * @param org      the owner; empty for a repo with none ({@code gpt2})
 * @param name     the repo's name
 * @param revision a branch, tag or commit hash
 */
public record RepoRef(String org, String name, String revision) {
    // The hub's own rule for repo names: letters, digits, '-', '_', '.'; revisions may hold '/' (branches).
    private static final String NAME = "([A-Za-z0-9][\\w.-]*)";
    private static final String REVISION = "(?:@([\\w.\\-/]+))?";
    private static final Pattern REPO_ID = Pattern.compile(NAME + "/" + NAME + REVISION);
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");
    /** A repo of the hub's first years, named with no owner ({@code gpt2}); its folder is {@code models--gpt2}. */
    private static final Pattern OWNERLESS_ID = Pattern.compile(NAME + REVISION);

    /**
     * Checks that every component is given.
     *
     * @throws StloadException {@link ErrorKind#Usage} if any component is null
     */
    public RepoRef {
        if (org == null || name == null || revision == null) {
            throw StloadException.usage("a repo reference needs its owner, name and revision, not null");
        }
    }

    /**
     * Parses a repo id.
     *
     * @param text {@code org/name} or {@code org/name@revision}
     * @return the reference, or empty when the text is not a repo id (it may then be a path)
     * @throws StloadException {@link ErrorKind#Usage} if {@code text} is null
     */
    public static Optional<RepoRef> parse(String text) {
        StloadException.requireNonNull(text, "a repo id is text such as `org/name`, not null");
        Matcher m = REPO_ID.matcher(text);
        if (!m.matches() || text.contains("..") || text.endsWith("/")) {
            return Optional.empty();
        }
        return Optional.of(new RepoRef(m.group(1), m.group(2), m.group(3) == null ? "main" : m.group(3)));
    }

    /**
     * Parses a repo id with no owner ({@code gpt2}, {@code bert-base-uncased}), which huggingface_hub takes; the owner
     * is then empty. A bare word names a file or folder far more often, so a caller takes it for a repo only where the
     * hub cache holds one of that name.
     */
    static Optional<RepoRef> parseOwnerless(String text) {
        Matcher m = OWNERLESS_ID.matcher(text);
        if (!m.matches() || text.contains("..")) {
            return Optional.empty();
        }
        return Optional.of(new RepoRef("", m.group(1), m.group(2) == null ? "main" : m.group(2)));
    }

    /** {@return {@code org/name}, or {@code name} for a repo with no owner} */
    public String id() {
        return org.isEmpty() ? name : org + "/" + name;
    }

    /**
     * {@return the repo's folder name in the cache and under {@code .locks/}: {@code models--org--name}, or
     * {@code models--name} for a repo with no owner}
     */
    public String folderName() {
        return "models--" + (org.isEmpty() ? name : org + "--" + name);
    }

    /** {@return true when the revision is a 40-digit commit hash} */
    public boolean revisionIsCommit() {
        return COMMIT.matcher(revision).matches();
    }

    /**
     * Tells a user how to fetch (or finish fetching) this repo at a commit.
     *
     * @param commit the commit hash
     * @return the command line
     * @throws StloadException {@link ErrorKind#Usage} if {@code commit} is null
     */
    public String fetchCommand(String commit) {
        StloadException.requireNonNull(commit, "a fetch command names the commit to fetch, not null");
        return "hf download " + id() + " --revision " + commit;
    }

    @Override
    public String toString() {
        return id() + "@" + revision;
    }
}
