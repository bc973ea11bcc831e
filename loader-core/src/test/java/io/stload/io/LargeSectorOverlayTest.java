package io.stload.io;

import static io.stload.testing.Commands.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An overlay (a container's root) over a disk of 16 KiB sectors says 4 KiB in statfs, where O_DIRECT needs 16 KiB:
 * the alignment is taken from statx, so the load reads buffered, byte for byte, where every direct and AUTO load
 * failed with EINVAL. Needs root, losetup and mkfs.xfs; skipped without them.
 */
class LargeSectorOverlayTest {
    @TempDir
    Path dir;

    @Test
    void aDirectLoadFromAnOverlayOverSixteenKibSectorsIsByteExact() throws Exception {
        assumeTrue(run("mkfs.xfs", "-V") == 0 && run("losetup", "-V") == 0, "no mkfs.xfs or losetup here");
        Path image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(320L << 20); // sparse; the least XFS takes
        }
        String loop = output("losetup", "--sector-size", "16384", "-f", "--show", image.toString());
        assumeTrue(loop != null, "cannot attach a loop device here");
        Path lower = Files.createDirectories(dir.resolve("lower"));
        Path upper = Files.createDirectories(dir.resolve("upper"));
        Path merged = Files.createDirectories(dir.resolve("merged"));
        List<Path> mounted = new ArrayList<>();
        try {
            assumeTrue(run("mkfs.xfs", "-q", "-f", "-b", "size=16384", "-s", "size=16384", loop) == 0
                    && mount(mounted, lower, loop) && mount(mounted, upper, "-t", "tmpfs", "tmpfs"),
                    "cannot make a 16 KiB-sector XFS here");
            Files.createDirectories(upper.resolve("u"));
            Files.createDirectories(upper.resolve("w"));
            assumeTrue(mount(mounted, merged, "-t", "overlay", "overlay", "-o", "lowerdir=" + lower + ",upperdir="
                    + upper.resolve("u") + ",workdir=" + upper.resolve("w")), "no overlayfs here");

            List<TensorData> tensors = new ArrayList<>();
            SplittableRandom random = new SplittableRandom(5);
            for (int i = 0; i < 6; i++) {
                byte[] bytes = new byte[(700_001 + 13 * i) / 4 * 4]; // odd offsets: a 12 KiB tail read came first
                random.nextBytes(bytes);
                tensors.add(new TensorData("t" + i, DType.F32, new long[] {bytes.length / 4}, bytes));
            }
            SafetensorsWriter.write(lower.resolve("model.safetensors"), Map.of(), tensors);
            Path file = merged.resolve("model.safetensors");

            try (NativeFile f = NativeAccess.get().open(file, true)) {
                assertTrue(!f.isDirect() || f.directAlignment() >= 16384, "O_DIRECT there needs 16 KiB, not "
                        + f.directAlignment());
            }
            try (LoadedWeights w = Loader.load(file, LoadOptions.DEFAULTS.withStrategy(LoadStrategy.DIRECT))) {
                assertEquals(tensors.size(), w.tensors().size());
                for (TensorData t : tensors) {
                    assertArrayEquals(t.data(), w.tensor(t.name()).data().toArray(ValueLayout.JAVA_BYTE), t.name());
                }
            }
        } finally {
            for (Path m : mounted.reversed()) {
                run("umount", m.toString());
            }
            run("losetup", "-d", loop);
        }
    }

    private static boolean mount(List<Path> mounted, Path at, String... source) throws InterruptedException {
        List<String> command = new ArrayList<>(List.of("mount"));
        command.addAll(List.of(source));
        command.add(at.toString());
        boolean ok = run(command.toArray(String[]::new)) == 0;
        if (ok) {
            mounted.add(at);
        }
        return ok;
    }

    /** The command's one line of output, or null if it failed. */
    private static String output(String... command) throws Exception {
        Process p;
        try {
            p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            return null;
        }
        String line = p.inputReader().readLine();
        return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0 && line != null ? line.strip() : null;
    }
}
