/**
 * The model registry: find models by name, version or best metric, and download their files with
 * every size and checksum verified (SHA-256 or BLAKE3, parts composite).
 */
package dev.larder.registry;
