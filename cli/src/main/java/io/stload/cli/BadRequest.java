package io.stload.cli;

/** A request the server cannot act on as sent; answered with 400 and this message. */
final class BadRequest extends RuntimeException {
    BadRequest(String message) {
        super(message);
    }
}
