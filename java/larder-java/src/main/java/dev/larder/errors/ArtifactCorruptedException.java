package dev.larder.errors;

import java.util.Map;

/** A stored model artifact does not match its recorded size or checksum (detected on download); nothing is left at the download location. */
public class ArtifactCorruptedException extends ConflictException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   * @param details machine-readable context (names, values, limits), never secrets; may be null
   */
  public ArtifactCorruptedException(String message, Map<String, Object> details) {
    super(message, details);
  }

  /**
   * Creates the exception without details.
   *
   * @param message what was wrong, with which value, and what to do (never a secret)
   */
  public ArtifactCorruptedException(String message) {
    super(message, null);
  }

  @Override
  public String errorCode() {
    return "conflict";
  }

  @Override
  public int httpStatus() {
    return 409;
  }
}
