package io.stload.s3;

import java.io.IOException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkServiceException;

/** What a failed request means: worth retrying (throttling, 5xx, a dropped connection), or final. */
final class S3Failure {
    private S3Failure() {
    }

    /** The error the SDK or the CRT reported, unwrapped from the futures around it. */
    static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** The HTTP status of a service error, or 0 when the request got no HTTP answer. */
    static int status(Throwable t) {
        return t instanceof SdkServiceException e ? e.statusCode() : 0;
    }

    /** Throttling (503 SlowDown, 429), any 5xx, and failures without an HTTP answer (resets, closed connections). */
    static boolean retryable(Throwable t) {
        int status = status(t);
        if (status != 0) {
            return status == 429 || status >= 500;
        }
        if (noCredentials(t)) {
            return false;
        }
        return t instanceof SdkClientException || t instanceof IOException && !(t instanceof ObjectChangedException);
    }

    /** The SDK's default chain found no credentials: no request was sent, and none would be on a retry. */
    static boolean noCredentials(Throwable t) {
        return t instanceof SdkClientException && t.getMessage() != null
                && t.getMessage().startsWith("Unable to load credentials");
    }

    /** The service's error code (SlowDown, NoSuchKey, ...) when it gave one. */
    static String code(Throwable t) {
        if (t instanceof AwsServiceException e && e.awsErrorDetails() != null && e.awsErrorDetails().errorCode() != null) {
            return e.awsErrorDetails().errorCode();
        }
        return null;
    }

    /** One line for logs and errors. */
    static String describe(Throwable t) {
        int status = status(t);
        if (status != 0) {
            String code = code(t);
            return "HTTP " + status + (code == null ? "" : " " + code);
        }
        if (noCredentials(t)) {
            return "no AWS credentials found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or an instance role)";
        }
        String message = t.getMessage();
        return message == null ? t.getClass().getSimpleName() : message.lines().findFirst().orElse(message);
    }

    /** The object is not the version that was opened: its bytes must not be mixed with the ones read before. */
    static final class ObjectChangedException extends IOException {
        ObjectChangedException(String message) {
            super(message);
        }
    }
}
