package dev.larder.registry;

import dev.larder.errors.ConfigurationException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.apache.commons.codec.digest.Blake3;

/**
 * The checksums of model artifacts: SHA-256 (S3 stores) or BLAKE3 (local stores), 256-bit digests
 * as 64 hex digits, and the composite checksum of files saved in parts. Mirrors the Python client's
 * {@code larder.model_registry._transfer}.
 */
public final class Checksums {
  private Checksums() {}

  /** One running hash. */
  public interface Hasher {
    /** @param b bytes @param off offset @param len count */
    void update(byte[] b, int off, int len);

    /** @return the digest, 64 lowercase hex digits */
    String hex();
  }

  /**
   * A new hasher.
   *
   * @param algorithm {@code "sha256"} or {@code "blake3"}
   * @return the hasher
   * @throws ConfigurationException for an algorithm this client does not know (a newer client saved it)
   */
  public static Hasher hasher(String algorithm) {
    if ("sha256".equals(algorithm)) {
      MessageDigest md;
      try {
        md = MessageDigest.getInstance("SHA-256");
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
      return new Hasher() {
        @Override
        public void update(byte[] b, int off, int len) {
          md.update(b, off, len);
        }

        @Override
        public String hex() {
          return HexFormat.of().formatHex(md.digest());
        }
      };
    }
    if ("blake3".equals(algorithm)) {
      Blake3 b3 = Blake3.initHash();
      return new Hasher() {
        @Override
        public void update(byte[] b, int off, int len) {
          b3.update(b, off, len);
        }

        @Override
        public String hex() {
          return HexFormat.of().formatHex(b3.doFinalize(32));
        }
      };
    }
    throw new ConfigurationException("Unknown checksum algorithm '" + algorithm + "'; this client knows sha256, "
        + "blake3. Use a newer larder-java.", Map.of("checksum_algorithm", String.valueOf(algorithm)));
  }

  /**
   * The digest of some bytes.
   *
   * @param algorithm {@code "sha256"} or {@code "blake3"}
   * @param data the bytes
   * @param len how many of them
   * @return 64 hex digits
   */
  public static String of(String algorithm, byte[] data, int len) {
    Hasher h = hasher(algorithm);
    h.update(data, 0, len);
    return h.hex();
  }

  /**
   * The checksum of a file saved in parts: the hash of the parts' digests (given as hex) concatenated
   * in order (S3's {@code COMPOSITE} checksum for SHA-256).
   *
   * @param parts the parts' digests, hex
   * @param algorithm {@code "sha256"} or {@code "blake3"}
   * @return 64 hex digits
   */
  public static String composite(List<String> parts, String algorithm) {
    Hasher h = hasher(algorithm);
    for (String p : parts) {
      byte[] d = HexFormat.of().parseHex(p);
      h.update(d, 0, d.length);
    }
    return h.hex();
  }
}
