package io.stload.s3;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.function.UnaryOperator;
import javax.xml.stream.XMLStreamException;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkServiceException;
import software.amazon.awssdk.services.s3.model.S3Exception;

/** What a failed request means: worth retrying (throttling, 5xx but 501, a dropped connection), or final. */
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

    /**
     * A GET's failure as the SDK would have thrown it: a service error with its status and code, or a transport error.
     * The CRT reports a 500 or a 503 by its own error alone, without the response.
     */
    static Throwable of(ObjectGets.Failure f) {
        int status = f.status();
        String code = f.code();
        if (status == 0 && "AWS_ERROR_S3_SLOW_DOWN".equals(f.crtError())) {
            status = 503;
            code = "SlowDown";
        } else if (status == 0 && "AWS_ERROR_S3_INTERNAL_ERROR".equals(f.crtError())) {
            status = 500;
            code = "InternalError";
        }
        if (status != 0) {
            return S3Exception.builder().statusCode(status)
                    .awsErrorDetails(AwsErrorDetails.builder().errorCode(code).errorMessage(f.serviceMessage())
                            .serviceName("S3").build())
                    .message("HTTP " + status + (code == null ? "" : " " + code)).build();
        }
        return new TransportException(f.crtError(), f.message());
    }

    /** The HTTP status of a service error, or 0 when the request got no HTTP answer. */
    static int status(Throwable t) {
        return t instanceof SdkServiceException e ? e.statusCode() : 0;
    }

    /**
     * Throttling (503 SlowDown, 429), any 5xx but 501 Not Implemented (which says the same on every try), and
     * failures without an HTTP answer (resets, closed connections, a request cut at its deadline) except the ones of
     * credentials and signing, and answers that are no S3 XML (a proxy's page, a server that is not S3).
     */
    static boolean retryable(Throwable t) {
        int status = status(t);
        if (status != 0) {
            return status == 429 || status >= 500 && status != 501;
        }
        if (noCredentials(t) || parseError(t) != null) {
            return false;
        }
        if (t instanceof TransportException e) {
            return !(e.crtError.contains("AUTH") || e.crtError.contains("SIGN") || e.crtError.contains("CREDENTIALS"));
        }
        return t instanceof SdkClientException || t instanceof IOException && !(t instanceof ObjectChangedException);
    }

    /** The server does not implement something the request asked for: 501, or 400 with code NotImplemented. */
    static boolean notImplemented(Throwable t) {
        int status = status(t);
        return status == 501 || status == 400 && "NotImplemented".equals(code(t));
    }

    /** The SDK's default chain found no credentials: no request was sent, and none would be on a retry. */
    static boolean noCredentials(Throwable t) {
        return t instanceof SdkClientException && t.getMessage() != null
                && t.getMessage().startsWith("Unable to load credentials");
    }

    /**
     * Why the answer, which came whole, is not XML the SDK can read (whoever sent it will send it again), or null; a
     * parse cut by a failed read (a reset part way) is the read's failure, worth a retry.
     */
    private static XMLStreamException parseError(Throwable t) {
        XMLStreamException parse = null;
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof XMLStreamException x && parse == null) {
                parse = x;
            } else if (parse != null && c instanceof IOException) {
                return null;
            }
        }
        return parse;
    }

    /** The service's error code (SlowDown, NoSuchKey, ...) when it gave one. */
    static String code(Throwable t) {
        if (t instanceof AwsServiceException e && e.awsErrorDetails() != null && e.awsErrorDetails().errorCode() != null) {
            return e.awsErrorDetails().errorCode();
        }
        return null;
    }

    /** The credential sources the environment sets up, by the name of the SDK's provider that reads each. */
    private static final Map<String, List<String>> CONFIGURED_BY = Map.of(
            "WebIdentityTokenFileCredentialsProvider", List.of("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"),
            "ProfileCredentialsProvider", List.of("AWS_PROFILE"),
            "ContainerCredentialsProvider", List.of("AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));

    /**
     * Why the sources the environment does set up gave nothing, as the SDK's chain says in its message (a web
     * identity whose STS is unreachable, a profile that assumes a role it may not): without it, a user who set one up
     * reads only that no credentials were found. Empty where no such source is set up.
     */
    static String configuredSourceFailures(String chainMessage, UnaryOperator<String> env) {
        int list = chainMessage.indexOf(" : [");
        if (list < 0) {
            return "";
        }
        StringBuilder why = new StringBuilder();
        String reasons = chainMessage.substring(list + 4, chainMessage.endsWith("]") ? chainMessage.length() - 1
                : chainMessage.length());
        for (String reason : reasons.split(", (?=\\w+CredentialsProvider\\()")) {
            int named = reason.indexOf("(");
            List<String> variables = named < 0 ? null : CONFIGURED_BY.get(reason.substring(0, named));
            if (variables != null && variables.stream().anyMatch(v -> env.apply(v) != null)) {
                why.append("; ").append(reason.substring(0, named)).append(reason.substring(reason.indexOf("): ") + 1));
            }
        }
        return why.toString();
    }

    /** One line for logs and errors. */
    static String describe(Throwable t) {
        int status = status(t);
        if (status != 0) {
            String code = code(t);
            return "HTTP " + status + (code == null ? "" : " " + code);
        }
        XMLStreamException parseError = parseError(t);
        if (parseError != null) {
            return "the server's answer is not S3's XML (" + firstLine(parseError) + ")";
        }
        if (noCredentials(t)) {
            return "no AWS credentials found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, a web identity, "
                    + "or an instance role)" + configuredSourceFailures(t.getMessage(), System::getenv);
        }
        return firstLine(t);
    }

    private static String firstLine(Throwable t) {
        String message = t.getMessage();
        return message == null ? t.getClass().getSimpleName() : message.lines().findFirst().orElse(message);
    }

    /** The object is not the version that was opened: its bytes must not be mixed with the ones read before. */
    static final class ObjectChangedException extends IOException {
        ObjectChangedException(String message) {
            super(message);
        }
    }

    /** A request that got no HTTP answer: the connection failed, or it was cancelled. */
    static final class TransportException extends IOException {
        final String crtError;

        TransportException(String crtError, String message) {
            super(message + " (" + crtError + ")");
            this.crtError = crtError;
        }
    }

    /** A request cut at its deadline: too slow, or no answer at all. */
    static final class CutException extends IOException {
        CutException(String message) {
            super(message);
        }
    }
}
