package io.stload.checkpoint;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A hub cache laid out as huggingface_hub lays it out: {@code refs/main}, {@code snapshots/<commit>/} of
 * relative symlinks into {@code blobs/}, shards named by their sha256 and the index by a 40-hex git hash.
 */
public final class HubFixture {
    public static final String REPO = "acme/tiny";
    public static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
    /** The names of a two-shard checkpoint's shards, as transformers writes them. */
    public static final String SHARD1 = "model-00001-of-00002.safetensors";
    public static final String SHARD2 = "model-00002-of-00002.safetensors";

    public final Path cache;
    public final Path repoDir;
    public final Path blobs;
    public final Path snapshot;

    public HubFixture(Path cache) throws IOException {
        this.cache = cache;
        this.repoDir = cache.resolve("models--acme--tiny");
        this.blobs = Files.createDirectories(repoDir.resolve("blobs"));
        this.snapshot = Files.createDirectories(repoDir.resolve("snapshots").resolve(COMMIT));
        Files.createDirectories(repoDir.resolve("refs"));
        // huggingface_hub makes .locks/ with its first download; stload only ever adds its deep-check lock there.
        Files.createDirectories(cache.resolve(".locks"));
        Files.writeString(repoDir.resolve("refs").resolve("main"), COMMIT);
    }

    /** A shard of F32 tensors of random values, written to {@code dir}; returns its bytes. */
    public static byte[] shardBytes(Path dir, String file, long seed, String... tensors) throws IOException {
        Random random = new Random(seed);
        List<TensorData> data = new ArrayList<>();
        for (String t : tensors) {
            byte[] bytes = new byte[4096];
            random.nextBytes(bytes);
            data.add(new TensorData(t, DType.F32, new long[] {1024}, bytes));
        }
        Path p = dir.resolve(file);
        SafetensorsWriter.write(p, Map.of("format", "pt"), data);
        return Files.readAllBytes(p);
    }

    /** Stores {@code bytes} as a blob named by its sha256 and links {@code file} of the snapshot to it. */
    public Path addFile(String file, byte[] bytes) throws IOException {
        String sha = sha256(bytes);
        Files.write(blobs.resolve(sha), bytes);
        return link(file, sha);
    }

    public Path link(String file, String blob) throws IOException {
        Path link = snapshot.resolve(file);
        return Files.createSymbolicLink(link, Path.of("../../blobs").resolve(blob));
    }

    /** An index mapping each tensor to a shard, stored the way git-tracked (non-LFS) files are: a 40-hex name. */
    public void addIndex(Map<String, String> tensorToShard) throws IOException {
        StringBuilder json = new StringBuilder("{\"metadata\":{},\"weight_map\":{");
        tensorToShard.forEach((t, s) -> json.append(json.charAt(json.length() - 1) == '{' ? "" : ",")
                .append('"').append(t).append("\":\"").append(s).append('"'));
        byte[] bytes = json.append("}}").toString().getBytes(StandardCharsets.UTF_8);
        String name = sha256(bytes).substring(0, 40);
        Files.write(blobs.resolve(name), bytes);
        link("model.safetensors.index.json", name);
    }

    /**
     * Makes the deep-check lock file as a rank of this user makes it, whatever the umask: only its owner may write
     * it or replace it in its folder, so a rank takes a record from it.
     */
    public static Path ownLockFile(Path lock) throws IOException {
        Files.createDirectories(lock.getParent());
        Files.setPosixFilePermissions(lock.getParent(), PosixFilePermissions.fromString("rwxr-xr-x"));
        if (!Files.exists(lock)) {
            Files.createFile(lock);
        }
        Files.setPosixFilePermissions(lock, PosixFilePermissions.fromString("rw-r--r--"));
        return lock;
    }

    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
