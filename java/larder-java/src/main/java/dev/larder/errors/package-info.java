/**
 * The exception hierarchy of the Larder client: one unchecked {@link dev.larder.errors.LarderException}
 * base, with the same classes (and error codes) as the Python client's {@code larder.errors}.
 */
package dev.larder.errors;
