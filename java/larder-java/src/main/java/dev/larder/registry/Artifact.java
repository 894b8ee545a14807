package dev.larder.registry;

import java.util.List;

/**
 * One file of a model version's manifest.
 *
 * @param path its path inside the version's folder
 * @param size its size in bytes
 * @param checksum its checksum, 64 hex digits: of the whole file, or (files saved in parts) the
 *     composite: the hash of the parts' digests concatenated in order, as S3 computes it
 * @param algorithm {@code "sha256"} or {@code "blake3"}
 * @param partSize bytes per part, or null for a file saved whole
 * @param parts one digest (hex) per part, or null
 */
public record Artifact(String path, long size, String checksum, String algorithm, Long partSize,
    List<String> parts) {}
