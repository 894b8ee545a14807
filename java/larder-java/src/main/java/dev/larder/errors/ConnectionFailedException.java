package dev.larder.errors;

import java.util.Map;

/** The platform could not be reached, or TLS verification failed (client-side); the message says how to fix it. */
public class ConnectionFailedException extends LarderException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public ConnectionFailedException(String message, Map<String, Object> details) {
    super(message, details);
  }

  /**
   * Creates the exception without details.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   */
  public ConnectionFailedException(String message) {
    super(message, null);
  }

  @Override
  public String errorCode() {
    return "connection_failed";
  }

  @Override
  public int httpStatus() {
    return 503;
  }
}
