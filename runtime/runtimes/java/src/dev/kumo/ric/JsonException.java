package dev.kumo.ric;

/** A JSON document that cannot be read, or a value that cannot be bound or written. */
final class JsonException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    JsonException(String message) {
        super(message);
    }

    JsonException(String message, Throwable cause) {
        super(message, cause);
    }
}
