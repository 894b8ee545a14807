package dev.larder.errors;

import java.util.Map;

/** The request body is larger than the server accepts (HTTP 413). */
public class PayloadTooLargeException extends LarderException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public PayloadTooLargeException(String message, Map<String, Object> details) {
    super(message, details);
  }

  /**
   * Creates the exception without details.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   */
  public PayloadTooLargeException(String message) {
    super(message, null);
  }

  @Override
  public String errorCode() {
    return "payload_too_large";
  }

  @Override
  public int httpStatus() {
    return 413;
  }
}
