package io.stload.s3;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.core.async.SdkPublisher;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;

/**
 * One part of a read: a ranged GET whose body is copied, buffer by buffer as the client hands them over,
 * straight into the part's slice of the destination. A response that ends early (a short body, a reset
 * connection) is followed by a GET for the rest, never accepted short; throttling and 5xx are retried with
 * doubling backoff, up to the storage's attempt limit without progress. Once {@link #abandon} returns, nothing
 * more is written to the destination.
 */
final class RangedGet {
    private static final System.Logger LOG = System.getLogger(RangedGet.class.getName());

    private final S3Object object;
    private final S3Storage storage;
    private final long offset;
    private final MemorySegment into;
    private final CompletableFuture<Void> done = new CompletableFuture<>();
    /** Guards {@link #landed} and {@link #abandoned}: a copy never overlaps abandoning. */
    private final Object lock = new Object();
    private long landed;
    private boolean abandoned;
    private int failuresWithoutProgress;

    RangedGet(S3Object object, S3Storage storage, long offset, MemorySegment into) {
        this.object = object;
        this.storage = storage;
        this.offset = offset;
        this.into = into;
    }

    /** Starts the GET; the future completes when every byte has landed, or with the error that stopped it. */
    CompletableFuture<Void> start() {
        if (into.byteSize() == 0) {
            done.complete(null);
        } else {
            attempt();
        }
        return done;
    }

    /** Stops retrying and writing; a GET still running has its remaining buffers dropped. */
    void abandon() {
        synchronized (lock) {
            abandoned = true;
        }
    }

    private void attempt() {
        long from;
        synchronized (lock) {
            if (abandoned) {
                done.completeExceptionally(new CancellationException("abandoned"));
                return;
            }
            from = offset + landed;
        }
        long before = from;
        GetObjectRequest.Builder request = GetObjectRequest.builder().bucket(object.bucket()).key(object.key())
                .range("bytes=" + from + "-" + (offset + into.byteSize() - 1));
        if (object.etag() != null) {
            request.ifMatch(object.etag());
        }
        CompletableFuture<Void> response;
        try {
            storage.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            done.completeExceptionally(new IOException("read interrupted", e));
            return;
        }
        try {
            response = (object.etag() == null ? storage.plainClient() : storage.client())
                    .getObject(request.build(), new Landing(from));
        } catch (RuntimeException e) {
            response = CompletableFuture.failedFuture(e);
        }
        response.whenComplete((ignored, error) -> {
            storage.release();
            afterAttempt(before, error);
        });
    }

    private void afterAttempt(long from, Throwable error) {
        long now;
        synchronized (lock) {
            if (abandoned) {
                done.completeExceptionally(new CancellationException("abandoned"));
                return;
            }
            now = offset + landed;
        }
        long end = offset + into.byteSize();
        if (error == null && now == end) {
            done.complete(null);
            return;
        }
        Throwable cause = error == null ? null : S3Failure.unwrap(error);
        String range = "bytes " + from + "-" + (end - 1);
        if (cause != null && !S3Failure.retryable(cause)) {
            done.completeExceptionally(finalError(cause, range));
            return;
        }
        failuresWithoutProgress = now > from ? 1 : failuresWithoutProgress + 1;
        String why = cause == null ? "response ended after " + (now - from) + " of " + (end - from) + " bytes"
                : S3Failure.describe(cause) + (now > from ? " after " + (now - from) + " bytes" : "");
        int limit = storage.settings().maxAttempts();
        if (failuresWithoutProgress >= limit) {
            done.completeExceptionally(new IOException(range + ": gave up after " + limit
                    + " attempts without progress; last: " + why, cause));
            return;
        }
        long delayMillis = storage.settings().backoff().toMillis() << (failuresWithoutProgress - 1);
        LOG.log(System.Logger.Level.WARNING, "{0}: {1}: {2}; retrying the remaining {3} bytes in {4} ms (attempt {5} of {6})",
                object.name(), range, why, end - now, delayMillis, failuresWithoutProgress + 1, limit);
        CompletableFuture.runAsync(this::attempt, CompletableFuture.delayedExecutor(delayMillis, TimeUnit.MILLISECONDS));
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

    /** Copies one response's body into the destination from {@code first}, checking it is the version opened. */
    private final class Landing implements AsyncResponseTransformer<GetObjectResponse, Void> {
        private final long first;
        private final CompletableFuture<Void> result = new CompletableFuture<>();
        private IOException rejected;

        Landing(long first) {
            this.first = first;
        }

        @Override
        public CompletableFuture<Void> prepare() {
            return result;
        }

        @Override
        public void onResponse(GetObjectResponse response) {
            String changed = object.changedBy(response);
            long start = S3Object.firstByte(response.contentRange());
            if (changed != null) {
                rejected = object.changed(changed);
            } else if (start != first) {
                rejected = new IOException("asked for bytes from " + first + ", the server sent "
                        + (response.contentRange() == null ? "no Content-Range" : response.contentRange()));
            }
        }

        @Override
        public void onStream(SdkPublisher<ByteBuffer> publisher) {
            publisher.subscribe(new Subscriber<ByteBuffer>() {
                private Subscription subscription;

                @Override
                public void onSubscribe(Subscription s) {
                    subscription = s;
                    if (rejected != null) {
                        s.cancel();
                        result.completeExceptionally(rejected);
                    } else {
                        // Every buffer is copied out as it comes, so there is nothing to pace: asking one at a
                        // time would only add a round trip between threads per buffer.
                        s.request(Long.MAX_VALUE);
                    }
                }

                @Override
                public void onNext(ByteBuffer buffer) {
                    IOException problem = land(buffer);
                    if (problem != null) {
                        subscription.cancel();
                        result.completeExceptionally(problem);
                    }
                }

                @Override
                public void onError(Throwable t) {
                    result.completeExceptionally(t);
                }

                @Override
                public void onComplete() {
                    result.complete(null);
                }
            });
        }

        @Override
        public void exceptionOccurred(Throwable error) {
            result.completeExceptionally(error);
        }

        /** Lands a buffer after the bytes already in, or says why not. */
        private IOException land(ByteBuffer buffer) {
            synchronized (lock) {
                if (abandoned) {
                    return new IOException("abandoned");
                }
                long n = buffer.remaining();
                if (n > into.byteSize() - landed) {
                    return new IOException("the server sent more bytes than the range asked for");
                }
                MemorySegment.copy(MemorySegment.ofBuffer(buffer), 0, into, landed, n);
                landed += n;
                return null;
            }
        }
    }
}
