package io.stload.s3;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.crt.http.HttpHeader;

/**
 * One read of an object: its bytes cut into part-sized ranged GETs, kept in flight together (the storage bounds how
 * many across all reads), each body copied into its slice of the destination by the thread that called
 * {@link #run}, never by a network thread: the destination may be memory only that thread can touch (a confined
 * arena), and once {@code run} returns nothing more is written to it.
 *
 * <p>A response that ends early (a short Content-Range, a cut body) is followed by a GET for the rest. A failed GET is
 * retried after a doubling backoff when the failure may pass (throttling, 5xx but 501, a dropped connection, a GET
 * cut at its deadline), until {@code maxAttempts} attempts in a row bring no byte; a GET is cut when it has not
 * finished within {@link S3Settings#deadline} of its bytes. A server that refuses the GET's condition as not
 * implemented (501, or 400 NotImplemented) is asked again without it, once per object ({@link S3Object#conditionsRefused}).
 */
final class ObjectRead {
    private static final System.Logger LOG = System.getLogger(ObjectRead.class.getName());

    private final S3Object object;
    private final S3Storage storage;
    private final long offset;
    private final MemorySegment into;
    private final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
    /** Guards {@link #abandoned}: once set, the network threads release what they deliver themselves. */
    private final Object lock = new Object();
    private boolean abandoned;
    private final Set<Attempt> inFlight = new HashSet<>();

    ObjectRead(S3Object object, S3Storage storage, long offset, MemorySegment into) {
        this.object = object;
        this.storage = storage;
        this.offset = offset;
        this.into = into;
    }

    private sealed interface Event permits Headers, Body, Finished {
        Attempt attempt();
    }

    private record Headers(Attempt attempt, int status, HttpHeader[] headers) implements Event {
    }

    private record Body(Attempt attempt, ByteBuffer bytes, Runnable release) implements Event {
    }

    private record Finished(Attempt attempt, ObjectGets.Failure failure) implements Event {
    }

    /** A part-sized slice of the destination and how far it has got. */
    private static final class Part {
        final long start;
        final long length;
        long landed;
        int failuresWithoutProgress;
        long dueNanos;

        Part(long start, long length) {
            this.start = start;
            this.length = length;
        }
    }

    /** One GET of what a part still lacks. */
    private final class Attempt implements ObjectGets.Receiver {
        final Part part;
        final long landedBefore;
        final boolean conditional;
        final long deadlineNanos;
        final Duration allowed;
        ObjectGets.Get get;
        boolean cut;
        IOException rejected;

        Attempt(Part part, boolean conditional, Duration allowed) {
            this.part = part;
            this.landedBefore = part.landed;
            this.conditional = conditional;
            this.allowed = allowed;
            this.deadlineNanos = System.nanoTime() + allowed.toNanos();
        }

        long first() {
            return offset + part.start + landedBefore;
        }

        long last() {
            return offset + part.start + part.length - 1;
        }

        @Override
        public void headers(int status, HttpHeader[] headers) {
            post(new Headers(this, status, headers));
        }

        @Override
        public void body(ByteBuffer bytes, Runnable release) {
            post(new Body(this, bytes, release));
        }

        @Override
        public void finished(ObjectGets.Failure failure) {
            post(new Finished(this, failure));
        }

        /** Stops the GET for a reason of ours; its {@code finished} still comes. */
        void reject(IOException why) {
            if (rejected == null) {
                rejected = why;
                get.cancel();
            }
        }
    }

    /** Hands an event to the reading thread, or, once it has gone, gives back what the event holds. */
    private void post(Event e) {
        synchronized (lock) {
            if (!abandoned) {
                events.add(e);
                return;
            }
        }
        discard(e);
    }

    private void discard(Event e) {
        if (e instanceof Body b) {
            b.release().run();
        } else if (e instanceof Finished) {
            storage.release();
        }
    }

    /** Fills the destination, or throws; nothing is written to it after this returns. */
    void run() throws IOException {
        long partBytes = storage.settings().partBytes();
        ArrayDeque<Part> ready = new ArrayDeque<>();
        for (long at = 0; at < into.byteSize(); at += partBytes) {
            ready.add(new Part(at, Math.min(partBytes, into.byteSize() - at)));
        }
        List<Part> waiting = new ArrayList<>();
        int left = ready.size();
        try {
            while (left > 0) {
                long now = System.nanoTime();
                for (Iterator<Part> it = waiting.iterator(); it.hasNext(); ) {
                    Part p = it.next();
                    if (p.dueNanos - now <= 0) {
                        ready.add(p);
                        it.remove();
                    }
                }
                // Holding no GET, wait for a permit; holding some, take only free ones: their bodies are ours to land
                // before their permits come back.
                while (!ready.isEmpty() && (inFlight.isEmpty() ? storage.acquire() : storage.tryAcquire())) {
                    start(ready.poll());
                }
                long wait = Long.MAX_VALUE;
                for (Attempt a : inFlight) {
                    wait = Math.min(wait, a.cut ? Long.MAX_VALUE : a.deadlineNanos - now);
                }
                for (Part p : waiting) {
                    wait = Math.min(wait, p.dueNanos - now);
                }
                Event e = wait == Long.MAX_VALUE ? events.take() : events.poll(Math.max(0, wait), TimeUnit.NANOSECONDS);
                if (e == null) {
                    cutOverdue();
                    continue;
                }
                switch (e) {
                    case Headers h -> check(h);
                    case Body b -> land(b);
                    case Finished f -> {
                        Part done = finish(f, waiting, ready);
                        if (done != null) {
                            left--;
                        }
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("read interrupted");
        } finally {
            List<Event> undelivered = new ArrayList<>();
            synchronized (lock) {
                abandoned = true;
                events.drainTo(undelivered);
            }
            for (Attempt a : inFlight) {
                a.get.cancel();
            }
            undelivered.forEach(this::discard);
        }
    }

    private void start(Part part) {
        boolean conditional = object.etag() != null && object.conditionsRefused() == null;
        Attempt attempt = new Attempt(part, conditional, storage.settings().deadline(part.length - part.landed));
        inFlight.add(attempt);
        attempt.get = storage.gets().get(object.bucket(), object.key(), attempt.first(), attempt.last(),
                conditional ? object.etag() : null, attempt);
    }

    private void cutOverdue() {
        long now = System.nanoTime();
        for (Attempt a : inFlight) {
            if (!a.cut && a.deadlineNanos - now <= 0) {
                a.cut = true;
                a.get.cancel();
            }
        }
    }

    /** A response of the version opened, from the byte asked for; else the GET is stopped. */
    private void check(Headers h) {
        Attempt a = h.attempt();
        if (h.status() < 200 || h.status() > 299) {
            return; // the error comes with finished
        }
        String contentRange = header(h.headers(), "Content-Range");
        String changed = object.changedBy(contentRange, header(h.headers(), "ETag"), header(h.headers(), "Last-Modified"));
        long start = S3Object.firstByte(contentRange);
        if (changed != null) {
            a.reject(object.changed(changed));
        } else if (start != a.first()) {
            a.reject(new IOException("asked for bytes from " + a.first() + ", the server sent "
                    + (contentRange == null ? "no Content-Range" : contentRange)));
        }
    }

    private static String header(HttpHeader[] headers, String name) {
        for (HttpHeader h : headers) {
            if (h.getName().equalsIgnoreCase(name)) {
                return h.getValue();
            }
        }
        return null;
    }

    /** Copies a body's bytes after the part's bytes already in, here, on the reading thread. */
    private void land(Body b) {
        Attempt a = b.attempt();
        try {
            if (a.rejected != null) {
                return;
            }
            Part p = a.part;
            long n = b.bytes().remaining();
            if (n > p.length - p.landed) {
                a.reject(new IOException("the server sent more bytes than the range asked for"));
                return;
            }
            MemorySegment.copy(MemorySegment.ofBuffer(b.bytes()), 0, into, p.start + p.landed, n);
            p.landed += n;
        } finally {
            b.release().run();
        }
    }

    /** The GET is over: the part is done (returned), or its rest is due again, or the read fails. */
    private Part finish(Finished f, List<Part> waiting, ArrayDeque<Part> ready) throws IOException {
        Attempt a = f.attempt();
        inFlight.remove(a);
        storage.release();
        Part p = a.part;
        boolean progress = p.landed > a.landedBefore;
        if (a.rejected == null && p.landed == p.length) {
            return p; // every byte is in, whatever ended the GET after them (a cut a moment late)
        }
        String range = "bytes " + a.first() + "-" + a.last();
        Throwable cause = a.rejected != null ? a.rejected : f.failure() == null ? null : S3Failure.of(f.failure());
        if (a.rejected == null && a.cut && f.failure() != null) {
            S3Settings s = storage.settings();
            cause = new S3Failure.CutException("no complete response within " + seconds(a.allowed) + " (at least "
                    + s.minBytesPerSecond() + " bytes/s after a " + seconds(s.progressTimeout()) + " progress timeout)");
        }
        if (cause != null && a.conditional && S3Failure.notImplemented(cause)) {
            object.refuseConditions(S3Failure.describe(cause));
            ready.addFirst(p); // once more at once, without the condition: not an attempt of the server's fault
            return null;
        }
        if (cause != null && !S3Failure.retryable(cause)) {
            throw finalError(cause, range);
        }
        p.failuresWithoutProgress = progress ? 1 : p.failuresWithoutProgress + 1;
        long end = a.last() + 1;
        long got = p.landed - a.landedBefore;
        String why = cause == null ? "response ended after " + got + " of " + (end - a.first()) + " bytes"
                : S3Failure.describe(cause) + (progress ? " after " + got + " bytes" : "");
        int limit = storage.settings().maxAttempts();
        if (p.failuresWithoutProgress >= limit) {
            throw new IOException(range + ": gave up after " + limit + " attempts without progress; last: " + why, cause);
        }
        long delayMillis = storage.settings().backoff().toMillis() << (p.failuresWithoutProgress - 1);
        LOG.log(System.Logger.Level.DEBUG,
                "{0}: {1}: {2}; retrying the remaining {3,number,#} bytes in {4,number,#} ms (attempt {5} of {6})",
                object.name(), range, why, p.length - p.landed, delayMillis, p.failuresWithoutProgress + 1, limit);
        p.dueNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(delayMillis);
        waiting.add(p);
        return null;
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    private IOException finalError(Throwable cause, String range) {
        if (cause instanceof S3Failure.ObjectChangedException changed) {
            return changed;
        }
        int status = S3Failure.status(cause);
        if (status == 412) {
            return object.changed("its ETag no longer matches " + object.etag());
        }
        if (status == 404) {
            return new IOException("no such object (404): deleted since it was opened", cause);
        }
        if (status == 403) {
            return new IOException(S3Object.DENIED, cause);
        }
        return new IOException(range + ": " + S3Failure.describe(cause), cause);
    }
}
