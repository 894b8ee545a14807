package dev.larder.errors;

import java.util.Map;

/** A value is malformed or out of range (HTTP 400): a bad name, an unknown field, bad JSON. */
public class InvalidArgumentException extends LarderException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public InvalidArgumentException(String message, Map<String, Object> details) {
    super(message, details);
  }

  /**
   * Creates the exception without details.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   */
  public InvalidArgumentException(String message) {
    super(message, null);
  }

  @Override
  public String errorCode() {
    return "invalid_argument";
  }

  @Override
  public int httpStatus() {
    return 400;
  }
}
