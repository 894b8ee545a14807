package dev.larder.errors;

import java.util.Map;

/** The resource does not exist, or the caller may not know that it does (HTTP 404). */
public class NotFoundException extends LarderException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public NotFoundException(String message, Map<String, Object> details) {
    super(message, details);
  }

  /**
   * Creates the exception without details.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   */
  public NotFoundException(String message) {
    super(message, null);
  }

  @Override
  public String errorCode() {
    return "not_found";
  }

  @Override
  public int httpStatus() {
    return 404;
  }
}
