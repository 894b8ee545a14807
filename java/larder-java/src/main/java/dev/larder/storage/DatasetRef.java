package dev.larder.storage;

import dev.larder.errors.NotFoundException;
import dev.larder.internal.Json;
import dev.larder.internal.Names;
import dev.larder.internal.RestClient;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A path inside a dataset (pathlib-like, as the Python client's {@code DatasetRef}): streams and
 * whole-object reads and writes go straight to the object store; writes are atomic and are indexed
 * with their user metadata on the platform (searchable).
 *
 * <pre>{@code
 * DatasetRef ref = ds.ref("raw/2024.csv");
 * ref.writeBytes(data, Map.of("source", "crm"));
 * try (InputStream in = ref.openInputStream()) { ... }
 * }</pre>
 */
public final class DatasetRef {
  private final Dataset dataset;
  private final String key;

  DatasetRef(Dataset dataset, String key) {
    this.dataset = dataset;
    this.key = Names.checkObjectKey(key, true);
  }

  /** @return the dataset */
  public Dataset dataset() {
    return dataset;
  }

  /** @return the key inside the dataset ({@code ""} for its top folder) */
  public String key() {
    return key;
  }

  /** @param child a relative key @return the path joined with it */
  public DatasetRef resolve(String child) {
    return new DatasetRef(dataset, key.isEmpty() ? child : key + "/" + child);
  }

  private String full() {
    return key.isEmpty() ? dataset.name() : dataset.name() + "/" + key;
  }

  private String fileKey() {
    if (key.isEmpty()) {
      throw new dev.larder.errors.InvalidArgumentException("The dataset's top folder is not a file; use "
          + "ds.ref(\"file.csv\").");
    }
    return full();
  }

  /** @return {@code file:///...} or {@code s3://bucket/<dataset>/<key>} */
  public String uri() {
    return dataset.credentials().uri(full());
  }

  /** @return whether an object is at this path */
  public boolean isFile() {
    return !key.isEmpty() && dataset.backend().size(full()) >= 0;
  }

  /** @return whether objects exist under this path */
  public boolean isDir() {
    return key.isEmpty() || dataset.backend().isDir(full());
  }

  /** @return whether an object or a folder is at this path */
  public boolean exists() {
    return isFile() || isDir();
  }

  /**
   * @return the size in bytes
   * @throws NotFoundException when there is no object here
   */
  public long size() {
    long s = dataset.backend().size(fileKey());
    if (s < 0) {
      throw new NotFoundException("No object at " + this + ".", Map.of("ref", toString()));
    }
    return s;
  }

  /**
   * User metadata given when the object was written (from the platform's index).
   *
   * @return the metadata ({@code {}} when none)
   */
  @SuppressWarnings("unchecked")
  public Map<String, String> metadata() {
    try {
      Map<String, Object> e = Json.toMap(dataset.namespace().storage().rest().get("/namespaces/"
          + dataset.namespace().name() + "/datasets/" + dataset.name() + "/objects"
          + RestClient.query(Map.of("key", key))));
      Map<String, String> out = new LinkedHashMap<>();
      ((Map<String, Object>) e.getOrDefault("metadata", Map.of())).forEach((k, v) -> out.put(k, String.valueOf(v)));
      return out;
    } catch (NotFoundException e) {
      return new LinkedHashMap<>();
    }
  }

  /** @return the objects and folders directly under this folder */
  public List<DatasetRef> list() {
    List<DatasetRef> out = new ArrayList<>();
    for (String k : dataset.backend().list(full(), false)) {
      String rel = k.substring(dataset.name().length() + 1).replaceAll("/$", "");
      out.add(new DatasetRef(dataset, rel));
    }
    return out;
  }

  /**
   * Opens the object for streaming reads (never buffered whole).
   *
   * @return the stream; close it
   * @throws NotFoundException when there is no object
   */
  public InputStream openInputStream() {
    return dataset.backend().openRead(fileKey());
  }

  /**
   * Opens the object for streaming writes; it appears complete on a clean {@code close()} (and is then
   * indexed with {@code metadata}), or not at all.
   *
   * @param metadata user metadata, searchable on the platform; may be null
   * @return the stream; close it
   * @throws dev.larder.errors.PermissionDeniedException with read-only access
   */
  public OutputStream openOutputStream(Map<String, String> metadata) {
    dataset.requireWrite("write " + key);
    Map<String, String> md = metadata == null ? Map.of() : Map.copyOf(metadata);
    OutputStream out = dataset.backend().openWrite(fileKey());
    return new FilterOutputStream(out) {
      private boolean closed;

      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        out.write(b, off, len);
      }

      @Override
      public void close() throws IOException {
        if (closed) {
          return;
        }
        closed = true;
        out.close();
        record(md);
      }
    };
  }

  private void record(Map<String, String> md) {
    long size = dataset.backend().size(full());
    if (size < 0) {
      return;
    }
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("key", key);
    body.put("size", size);
    body.put("etag", Long.toHexString(size) + "-java");
    body.put("metadata", md);
    dataset.namespace().storage().rest().put("/namespaces/" + dataset.namespace().name() + "/datasets/"
        + dataset.name() + "/objects", body);
  }

  /** @return the whole object (use {@link #openInputStream()} for a large one) */
  public byte[] readBytes() {
    try (InputStream in = openInputStream()) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Writes an object, replacing any object here; it appears complete or not at all.
   *
   * @param data the content
   * @param metadata user metadata; may be null
   * @return the number of bytes written
   */
  public long writeBytes(byte[] data, Map<String, String> metadata) {
    try (OutputStream out = openOutputStream(metadata)) {
      out.write(data);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return data.length;
  }

  /**
   * Downloads the object to a local file, which appears complete or not at all.
   *
   * @param target the file
   * @return the file
   */
  public Path download(Path target) {
    try {
      Path tmp = Files.createTempFile(target.toAbsolutePath().getParent(), ".larder-", ".part");
      try (InputStream in = openInputStream()) {
        Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } finally {
        Files.deleteIfExists(tmp);
      }
      return target;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Deletes the object and forgets it in the index.
   *
   * @throws NotFoundException when there is no object here
   */
  public void delete() {
    dataset.requireWrite("delete " + key);
    dataset.backend().delete(fileKey());
    dataset.namespace().storage().rest().delete("/namespaces/" + dataset.namespace().name() + "/datasets/"
        + dataset.name() + "/objects" + RestClient.query(Map.of("key", key)));
  }

  @Override
  public String toString() {
    return dataset.namespace().name() + "/" + dataset.name() + "/" + key;
  }
}
