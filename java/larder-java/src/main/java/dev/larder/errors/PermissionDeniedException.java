package dev.larder.errors;

import java.util.Map;

/** The caller is known but may not do this: a missing key scope or role (HTTP 403). */
public class PermissionDeniedException extends LarderException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public PermissionDeniedException(String message, Map<String, Object> details) {
    super(message, details);
  }

  /**
   * Creates the exception without details.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   */
  public PermissionDeniedException(String message) {
    super(message, null);
  }

  @Override
  public String errorCode() {
    return "permission_denied";
  }

  @Override
  public int httpStatus() {
    return 403;
  }
}
