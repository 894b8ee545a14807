package dev.larder.errors;

import java.util.Map;

/** The server is not ready or overloaded (HTTP 503); retrying later may succeed. */
public class ServiceUnavailableException extends LarderException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public ServiceUnavailableException(String message, Map<String, Object> details) {
    super(message, details);
  }

  /**
   * Creates the exception without details.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   */
  public ServiceUnavailableException(String message) {
    super(message, null);
  }

  @Override
  public String errorCode() {
    return "unavailable";
  }

  @Override
  public int httpStatus() {
    return 503;
  }
}
