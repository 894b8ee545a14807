package dev.larder.errors;

import java.util.Map;

/** A resource with this name already exists (HTTP 409). */
public class AlreadyExistsException extends LarderException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public AlreadyExistsException(String message, Map<String, Object> details) {
    super(message, details);
  }

  /**
   * Creates the exception without details.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   */
  public AlreadyExistsException(String message) {
    super(message, null);
  }

  @Override
  public String errorCode() {
    return "already_exists";
  }

  @Override
  public int httpStatus() {
    return 409;
  }
}
