package dev.larder.errors;

import java.util.Map;

/** The server failed unexpectedly (HTTP 500); the server log has the cause. */
public class ServerException extends LarderException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public ServerException(String message, Map<String, Object> details) {
    super(message, details);
  }

  /**
   * Creates the exception without details.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   */
  public ServerException(String message) {
    super(message, null);
  }

  @Override
  public String errorCode() {
    return "internal_error";
  }

  @Override
  public int httpStatus() {
    return 500;
  }
}
