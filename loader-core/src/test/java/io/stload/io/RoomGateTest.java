package io.stload.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class RoomGateTest {
    private final List<String> entered = new CopyOnWriteArrayList<>();

    private Thread enterInTurn(RoomGate gate, int turn, long bytes) {
        Thread t = new Thread(() -> {
            try {
                gate.enterInTurn(turn, bytes);
                entered.add("turn " + turn);
            } catch (InterruptedException e) {
                entered.add("interrupted " + turn);
            }
        });
        t.start();
        return t;
    }

    /** Blocks until {@code t} waits (parked) or has ended. */
    private static void awaitParked(Thread t) {
        while (t.isAlive() && t.getState() != Thread.State.WAITING) {
            Thread.onSpinWait();
        }
    }

    @Test
    void turnsPassInOrderWhenTheirBytesFitAndALargeOnePassesAlone() {
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            RoomGate gate = new RoomGate(() -> 10);
            gate.enterInTurn(0, 6);
            Thread second = enterInTurn(gate, 1, 5); // does not fit beside 6
            awaitParked(second);
            Thread third = enterInTurn(gate, 2, 1); // would fit, but turn 1 comes first
            awaitParked(third);
            assertEquals(List.of(), entered, "nobody overtakes turn 1");

            gate.leave(6);
            second.join(TimeUnit.SECONDS.toMillis(5));
            third.join(TimeUnit.SECONDS.toMillis(5));
            assertEquals(Set.of("turn 1", "turn 2"), Set.copyOf(entered));

            Thread huge = enterInTurn(gate, 3, 100); // larger than the room: waits until nothing is inside
            awaitParked(huge);
            gate.leave(5);
            gate.leave(1);
            huge.join(TimeUnit.SECONDS.toMillis(5));
            assertEquals("turn 3", entered.getLast());
        });
    }

    @Test
    void aWaiterLeavesOnInterruptAndTheRoomIsAskedForAnew() {
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            long[] room = {4};
            RoomGate gate = new RoomGate(() -> room[0]);
            gate.enter(3);
            Thread waiter = new Thread(() -> {
                try {
                    gate.enter(3);
                    entered.add("entered");
                } catch (InterruptedException e) {
                    entered.add("interrupted");
                }
            });
            waiter.start();
            awaitParked(waiter);
            waiter.interrupt();
            waiter.join(TimeUnit.SECONDS.toMillis(5));
            assertEquals(List.of("interrupted"), entered);

            room[0] = 6; // read again at the next decision: 3 beside 3 fit
            gate.enter(3);
        });
    }
}
