package io.stload.host;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Asks the ledger of the memory cgroup this process runs in to let a load in, as a process of its own. Arguments:
 * the bytes the load holds however it goes and the most it allocates, then {@code twice} to release the admission
 * twice with files opened in between (one of which takes the number of the mark's descriptor). Prints
 * {@code admitted=B others=N}, then {@code marks=M} (the marks left beside the ledger once released) and
 * {@code between=ok} or the failure reading the file opened in between.
 */
public final class LedgerProbe {
    private LedgerProbe() {
    }

    public static void main(String[] args) throws IOException {
        RoomLedger.Admission a = RoomLedger.admit(1, Long.parseLong(args[0]), Long.parseLong(args[1]));
        System.out.println("admitted=" + a.admitted() + " others=" + a.others());
        a.release().run();
        if (args.length > 2 && args[2].equals("twice")) {
            Path between = Files.createTempFile("ledger-probe", "");
            // Descriptors are numbered lowest free first: of three opened now, one takes the number the mark's had.
            try (FileChannel a1 = FileChannel.open(between); FileChannel a2 = FileChannel.open(between);
                 FileChannel a3 = FileChannel.open(between)) {
                a.release().run();
                for (FileChannel ch : new FileChannel[] {a1, a2, a3}) {
                    ch.read(ByteBuffer.allocate(1));
                }
                System.out.println("between=ok");
            } catch (IOException e) {
                System.out.println("between=" + e.getMessage());
            } finally {
                Files.delete(between);
            }
        }
        Path ledger = RoomLedger.fileOf(MemoryHeadroom.read().roomGroup()).orElseThrow();
        try (Stream<Path> beside = Files.list(ledger.getParent())) {
            System.out.println("marks=" + beside.filter(f -> f.getFileName().toString()
                    .startsWith(ledger.getFileName() + ".")).count());
        }
    }
}
