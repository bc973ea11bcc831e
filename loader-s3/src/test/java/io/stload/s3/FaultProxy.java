package io.stload.s3;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.time.Duration;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * A loopback HTTP/1.1 proxy in front of an S3 server that answers chosen requests wrongly, as a hostile or broken
 * server would: an error status (throttling, 5xx, 501 Not Implemented, 403, 404), a body cut short (truncated, or
 * with the connection reset), a valid but shorter range than asked, a body that never comes or trickles, a listing
 * that never ends or lists a key outside its prefix, a HEAD without a size, or responses without an ETag. It
 * counts requests, body bytes served and connections open, as a server would see them.
 */
public final class FaultProxy implements AutoCloseable {
    /** {@code GET} this path: the body bytes served since the last time, as a decimal number (for benchmarks). */
    static final String SERVED_PATH = "/__served";

    /** How to answer a request. */
    public enum Fault {
        /** Forward it and its answer unchanged. */
        PASS,
        /** 503 SlowDown. */
        SLOW_DOWN,
        /** 500 InternalError. */
        INTERNAL_ERROR,
        /** 501 NotImplemented, as a server answers a header it does not implement. */
        NOT_IMPLEMENTED,
        /** 400 NotImplemented, as some servers answer a header they do not implement. */
        BAD_REQUEST_NOT_IMPLEMENTED,
        /** No answer at all, until the client gives up. */
        NO_ANSWER,
        /** 403 AccessDenied. */
        FORBIDDEN,
        /** 404 NoSuchKey. */
        NOT_FOUND,
        /** Half the body, then the connection closed. */
        TRUNCATE,
        /** Half the body, then the connection reset. */
        RESET,
        /** A valid response for the first half of the range asked for. */
        SHORT_RANGE,
        /** The response's headers, then no byte of its body until the client gives up. */
        STALL,
        /** The response's headers, then its body a byte at a time, 20 ms apart, until the client gives up. */
        TRICKLE,
        /** A listing that says it is truncated and gives the same continuation token every time. */
        LIST_SAME_TOKEN,
        /** A listing that says it is truncated and gives a new continuation token every time. */
        LIST_NEW_TOKEN,
        /** A listing with a key that is not under the prefix listed. */
        LIST_BAD_KEY,
        /** A HEAD answered without Content-Length. */
        HEAD_NO_LENGTH,
        /** A listing answered 200 with a body that is not XML. */
        LIST_NOT_XML
    }

    /**
     * One request as the proxy saw it.
     *
     * @param method  GET, HEAD, ...
     * @param target  the path and query
     * @param range   the Range header, or null
     * @param n       counts ranged GETs from 1 (0 for other requests)
     * @param headers every header, names in lower case
     */
    public record Request(String method, String target, String range, int n, Map<String, String> headers) {
    }

    private final AtomicInteger tokens = new AtomicInteger();

    private final URI upstream;
    private final ServerSocket server;
    private final Thread acceptor;
    private final List<Thread> handlers = new ArrayList<>();
    private final ConcurrentLinkedQueue<Socket> open = new ConcurrentLinkedQueue<>();
    private final AtomicInteger rangedGets = new AtomicInteger();
    private final AtomicInteger faults = new AtomicInteger();
    private final AtomicLong bodyBytes = new AtomicLong();
    private volatile Function<Request, Fault> rule = r -> Fault.PASS;
    private volatile boolean stripEtag;
    /** Guards {@link #openConnections}, and is notified when one closes. */
    private final Object connections = new Object();
    private int openConnections;

    public FaultProxy(URI upstream) throws IOException {
        this.upstream = upstream;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.acceptor = Thread.ofPlatform().name("fault-proxy-accept").daemon().start(this::accept);
    }

    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + server.getLocalPort());
    }

    public void rule(Function<Request, Fault> rule) {
        this.rule = rule;
    }

    public void stripEtag(boolean strip) {
        this.stripEtag = strip;
    }

    public int faultsInjected() {
        return faults.get();
    }

    public int rangedGets() {
        return rangedGets.get();
    }

    public long bodyBytes() {
        return bodyBytes.get();
    }

    /** The response body bytes sent since the last call (or since the start). */
    public long takeBodyBytes() {
        return bodyBytes.getAndSet(0);
    }

    /** Waits until the clients have closed every connection, at most {@code timeout}; returns how many are open. */
    public int awaitNoOpenConnection(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (connections) {
            long left;
            while (openConnections > 0 && (left = deadline - System.nanoTime()) > 0) {
                TimeUnit.NANOSECONDS.timedWait(connections, left);
            }
            return openConnections;
        }
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                open.add(client);
                synchronized (connections) {
                    openConnections++;
                }
                synchronized (handlers) {
                    handlers.add(Thread.ofPlatform().name("fault-proxy-conn").daemon().start(() -> serve(client)));
                }
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(Socket client) {
        try (client; InputStream in = new BufferedInputStream(client.getInputStream());
             OutputStream out = new BufferedOutputStream(client.getOutputStream(), 1 << 16);
             Upstream up = new Upstream()) {
            client.setTcpNoDelay(true);
            while (true) {
                Map<String, String> headers = new LinkedHashMap<>();
                String requestLine = readHead(in, headers);
                if (requestLine == null) {
                    return;
                }
                String[] parts = requestLine.split(" ");
                long requestBody = Long.parseLong(headers.getOrDefault("content-length", "0"));
                byte[] body = in.readNBytes((int) requestBody);
                if (parts[1].equals(SERVED_PATH)) {
                    byte[] count = Long.toString(bodyBytes.getAndSet(0)).getBytes(StandardCharsets.US_ASCII);
                    out.write(("HTTP/1.1 200 OK\r\ncontent-length: " + count.length + "\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
                    out.write(count);
                    out.flush();
                    continue;
                }
                String range = headers.get("range");
                boolean ranged = parts[0].equals("GET") && range != null;
                Request request = new Request(parts[0], parts[1], range, ranged ? rangedGets.incrementAndGet() : 0, Map.copyOf(headers));
                Fault fault = rule.apply(request);
                if (fault != Fault.PASS) {
                    faults.incrementAndGet();
                }
                if (!respond(parts, headers, body, fault, client, in, out, up)) {
                    return;
                }
            }
        } catch (IOException e) {
            // The client went away, or this proxy was closed.
        } finally {
            synchronized (connections) {
                openConnections--;
                connections.notifyAll();
            }
        }
    }

    /** Forwards one request and answers it, faulty or not; false when the connection is to be dropped. */
    private boolean respond(String[] request, Map<String, String> headers, byte[] body, Fault fault, Socket client,
                            InputStream in, OutputStream out, Upstream up)
            throws IOException {
        switch (fault) {
            case SLOW_DOWN -> {
                error(out, 503, "Service Unavailable", "SlowDown", "Please reduce your request rate.");
                return true;
            }
            case INTERNAL_ERROR -> {
                error(out, 500, "Internal Server Error", "InternalError", "We encountered an internal error.");
                return true;
            }
            case NOT_IMPLEMENTED -> {
                error(out, 501, "Not Implemented", "NotImplemented",
                        "A header you provided implies functionality that is not implemented");
                return true;
            }
            case BAD_REQUEST_NOT_IMPLEMENTED -> {
                error(out, 400, "Bad Request", "NotImplemented",
                        "A header you provided implies functionality that is not implemented");
                return true;
            }
            case NO_ANSWER -> {
                holdBody(in, out, new byte[0], false);
                return false;
            }
            case FORBIDDEN -> {
                error(out, 403, "Forbidden", "AccessDenied", "Access Denied");
                return true;
            }
            case NOT_FOUND -> {
                error(out, 404, "Not Found", "NoSuchKey", "The specified key does not exist.");
                return true;
            }
            default -> {
            }
        }
        Map<String, String> responseHeaders = new LinkedHashMap<>();
        Answer answer = up.exchange(request, headers, body, responseHeaders);
        String status = answer.status();
        byte[] payload = answer.payload();
        responseHeaders.remove("transfer-encoding");
        responseHeaders.remove("connection");
        if (stripEtag) {
            responseHeaders.remove("etag");
        }
        if (fault == Fault.HEAD_NO_LENGTH) {
            responseHeaders.remove("content-length");
        }
        if (fault == Fault.LIST_SAME_TOKEN || fault == Fault.LIST_NEW_TOKEN || fault == Fault.LIST_BAD_KEY
                || fault == Fault.LIST_NOT_XML) {
            payload = rewriteListing(new String(payload, StandardCharsets.UTF_8), fault).getBytes(StandardCharsets.UTF_8);
        }
        boolean head = request[0].equals("HEAD");
        if (!head) {
            responseHeaders.put("content-length", Integer.toString(payload.length));
        }
        int send = payload.length;
        if (fault == Fault.SHORT_RANGE && responseHeaders.containsKey("content-range") && payload.length > 1) {
            String cr = responseHeaders.get("content-range"); // bytes a-b/total
            long a = Long.parseLong(cr.substring(6, cr.indexOf('-')));
            send = payload.length / 2;
            responseHeaders.put("content-range", "bytes " + a + "-" + (a + send - 1) + cr.substring(cr.indexOf('/')));
            responseHeaders.put("content-length", Integer.toString(send));
        }
        StringBuilder reply = new StringBuilder("HTTP/1.1 " + status.substring(status.indexOf(' ') + 1) + "\r\n");
        responseHeaders.forEach((k, v) -> reply.append(k).append(": ").append(v).append("\r\n"));
        reply.append("\r\n");
        out.write(reply.toString().getBytes(StandardCharsets.ISO_8859_1));
        if (fault == Fault.STALL || fault == Fault.TRICKLE) {
            out.flush();
            holdBody(in, out, payload, fault == Fault.TRICKLE);
            return false;
        }
        if (fault == Fault.TRUNCATE || fault == Fault.RESET) {
            // Counted before they are sent: a client may have them, and its caller ask for the count, before this
            // thread runs again.
            bodyBytes.addAndGet(payload.length / 2);
            out.write(payload, 0, payload.length / 2);
            out.flush();
            if (fault == Fault.RESET) {
                client.setSoLinger(true, 0);
            }
            return false; // close (TRUNCATE) or reset (RESET) the connection mid-body
        }
        bodyBytes.addAndGet(send);
        out.write(payload, 0, send);
        out.flush();
        return true;
    }

    /** A server's answer: its status line and its whole body (its headers go into the caller's map). */
    private record Answer(String status, byte[] payload) {
    }

    /**
     * A client connection's own connection to the server, kept open from one request to the next while the server
     * keeps it (as a client's connection pool would), instead of one connection per request.
     */
    private final class Upstream implements AutoCloseable {
        private Socket socket;
        private InputStream in;
        private OutputStream out;

        /**
         * Forwards one request and reads its whole answer, its headers put in {@code responseHeaders}. A kept
         * connection the server has closed meanwhile is replaced, once.
         */
        Answer exchange(String[] request, Map<String, String> headers, byte[] body, Map<String, String> responseHeaders)
                throws IOException {
            boolean reused = socket != null;
            try {
                return tryExchange(request, headers, body, responseHeaders);
            } catch (IOException e) {
                close();
                if (!reused) {
                    throw e;
                }
                responseHeaders.clear();
                return tryExchange(request, headers, body, responseHeaders);
            }
        }

        private Answer tryExchange(String[] request, Map<String, String> headers, byte[] body,
                                   Map<String, String> responseHeaders) throws IOException {
            if (socket == null) {
                socket = new Socket(upstream.getHost(), upstream.getPort());
                socket.setTcpNoDelay(true);
                in = new BufferedInputStream(socket.getInputStream(), 1 << 16);
                out = new BufferedOutputStream(socket.getOutputStream(), 1 << 13);
            }
            StringBuilder head = new StringBuilder(request[0] + " " + request[1] + " HTTP/1.1\r\n");
            headers.forEach((k, v) -> {
                if (!k.equals("connection")) {
                    head.append(k).append(": ").append(v).append("\r\n");
                }
            });
            head.append("\r\n");
            out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            String status = readHead(in, responseHeaders);
            if (status == null) {
                throw new IOException("the server closed the connection");
            }
            int code = Integer.parseInt(status.split(" ")[1]);
            boolean noBody = request[0].equals("HEAD") || code / 100 == 1 || code == 204 || code == 304;
            boolean delimited = noBody || responseHeaders.containsKey("content-length")
                    || "chunked".equalsIgnoreCase(responseHeaders.get("transfer-encoding"));
            byte[] payload = readBody(in, responseHeaders, noBody);
            if (!delimited || "close".equalsIgnoreCase(responseHeaders.get("connection"))
                    || status.startsWith("HTTP/1.0")) {
                close();
            }
            return new Answer(status, payload);
        }

        @Override
        public void close() throws IOException {
            if (socket != null) {
                Socket s = socket;
                socket = null;
                s.close();
            }
        }
    }

    /** Sends nothing more (or a byte now and then) until the client closes the connection or this proxy closes. */
    private void holdBody(InputStream in, OutputStream out, byte[] payload, boolean trickle) {
        try {
            if (!trickle) {
                in.read(); // returns when the client closes; it sends nothing while it waits
                return;
            }
            for (int i = 0; i < payload.length; i++) {
                Thread.sleep(20); // the trickle's pace, on the proxy's own thread
                bodyBytes.incrementAndGet();
                out.write(payload[i]);
                out.flush();
            }
        } catch (IOException | InterruptedException e) {
            // The client gave up, or this proxy was closed.
        }
    }

    private String rewriteListing(String xml, Fault fault) {
        if (fault == Fault.LIST_NOT_XML) {
            return "<html>a captive portal, not S3</html";
        }
        if (fault == Fault.LIST_BAD_KEY) {
            return xml.replace("</ListBucketResult>", "<Contents><Key>x</Key><Size>1</Size></Contents></ListBucketResult>");
        }
        String token = fault == Fault.LIST_SAME_TOKEN ? "same" : "t" + tokens.incrementAndGet();
        return xml.replaceAll("<IsTruncated>false</IsTruncated>",
                "<IsTruncated>true</IsTruncated><NextContinuationToken>" + token + "</NextContinuationToken>");
    }

    private static void error(OutputStream out, int status, String reason, String code, String message) throws IOException {
        byte[] xml = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>" + message
                + "</Message></Error>").getBytes(StandardCharsets.UTF_8);
        out.write(("HTTP/1.1 " + status + " " + reason + "\r\ncontent-type: application/xml\r\ncontent-length: "
                + xml.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.write(xml);
        out.flush();
    }

    /** The start line, with the headers (lower-cased names) put in {@code headers}; null at end of stream. */
    private static String readHead(InputStream in, Map<String, String> headers) throws IOException {
        String first = readLine(in);
        if (first == null || first.isEmpty()) {
            return null;
        }
        String line;
        while ((line = readLine(in)) != null && !line.isEmpty()) {
            int colon = line.indexOf(':');
            headers.put(line.substring(0, colon).trim().toLowerCase(Locale.ROOT), line.substring(colon + 1).trim());
        }
        return first;
    }

    private static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) >= 0) {
            if (c == '\n') {
                byte[] b = line.toByteArray();
                int n = b.length > 0 && b[b.length - 1] == '\r' ? b.length - 1 : b.length;
                return new String(b, 0, n, StandardCharsets.ISO_8859_1);
            }
            line.write(c);
        }
        return line.size() == 0 ? null : line.toString(StandardCharsets.ISO_8859_1);
    }

    private static byte[] readBody(InputStream in, Map<String, String> headers, boolean head) throws IOException {
        if (head) {
            return new byte[0];
        }
        if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            while (true) {
                String size = readLine(in);
                int n = Integer.parseInt(size.split(";")[0].trim(), 16);
                if (n == 0) {
                    while (!readLine(in).isEmpty()) {
                        // trailers
                    }
                    return body.toByteArray();
                }
                body.write(in.readNBytes(n));
                readLine(in);
            }
        }
        String length = headers.get("content-length");
        return length == null ? in.readAllBytes() : in.readNBytes(Integer.parseInt(length));
    }

    /** Stops accepting, closes every connection, and waits for its threads to end (each within 10 s). */
    @Override
    public void close() throws IOException {
        server.close();
        awaitEnd(acceptor);
        for (Socket s : open) {
            s.close();
        }
        List<Thread> all;
        synchronized (handlers) {
            all = List.copyOf(handlers);
        }
        for (Thread t : all) {
            awaitEnd(t);
        }
    }

    private static void awaitEnd(Thread t) throws InterruptedIOException {
        try {
            if (!t.join(Duration.ofSeconds(10))) {
                throw new IllegalStateException(t.getName() + " still runs 10 s after the proxy closed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while the proxy closed");
        }
    }
}
