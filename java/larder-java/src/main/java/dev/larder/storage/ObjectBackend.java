package dev.larder.storage;

import dev.larder.errors.NotFoundException;
import dev.larder.errors.PermissionDeniedException;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * Direct object-store access (a local folder, or S3 with vended credentials); keys are
 * namespace-relative ({@code <dataset>/<key>}). Writes are atomic: readers never see a half-written
 * object. Internal to the client (public for larder-spark and the model registry).
 */
public abstract class ObjectBackend {
  static final String TMP_PREFIX = ".larder-";

  /**
   * The backend of some credentials.
   *
   * @param c vended credentials
   * @return a local or S3 backend
   */
  public static ObjectBackend of(StorageCredentials c) {
    return "local".equals(c.type()) ? new Local(c.paths()) : new S3(c);
  }

  /** @param key a key @return its size in bytes, or -1 when there is no object */
  public abstract long size(String key);

  /** @param key a key @return whether objects exist under it */
  public abstract boolean isDir(String key);

  /** @param key a key @return a stream of its bytes */
  public abstract InputStream openRead(String key);

  /**
   * Reads {@code length} bytes at {@code offset}.
   *
   * @param key the key
   * @param offset the first byte
   * @param into the buffer to fill (its length is the count)
   * @return the bytes read (less than asked at the end of the object)
   */
  public abstract int readRange(String key, long offset, byte[] into);

  /** @param key a key @return a stream whose bytes become the object on a clean close */
  public abstract OutputStream openWrite(String key);

  /** @param key a key */
  public abstract void delete(String key);

  /** @param prefix a folder key @param recursive all depths @return child keys (folders end with /) */
  public abstract List<String> list(String prefix, boolean recursive);

  /** Datasets' folders on this host: only those the platform vended. */
  static final class Local extends ObjectBackend {
    private final Map<String, Path> folders = new LinkedHashMap<>();

    Local(Map<String, String> paths) {
      paths.forEach((name, folder) -> folders.put(name, Path.of(folder)));
    }

    private Path folder(String dataset) {
      Path f = folders.get(dataset);
      if (f == null) {
        throw new PermissionDeniedException(
            "No access to dataset '" + dataset + "' was vended for this operation; open it with"
                + " namespace.getDataset(name) first.",
            Map.<String, Object>of("dataset", dataset));
      }
      return f;
    }

    Path path(String key) {
      int slash = key.indexOf('/');
      String dataset = slash < 0 ? key : key.substring(0, slash);
      return slash < 0 ? folder(dataset) : folder(dataset).resolve(key.substring(slash + 1));
    }

    private String keyOf(Path p, String prefix) {
      int slash = prefix.indexOf('/');
      String dataset = slash < 0 ? prefix : prefix.substring(0, slash);
      String rel = folder(dataset).relativize(p).toString().replace('\\', '/');
      return rel.isEmpty() ? dataset : dataset + "/" + rel;
    }

    @Override
    public long size(String key) {
      Path p = path(key);
      try {
        return Files.isRegularFile(p) ? Files.size(p) : -1;
      } catch (IOException e) {
        return -1;
      }
    }

    @Override
    public boolean isDir(String key) {
      return Files.isDirectory(path(key));
    }

    @Override
    public InputStream openRead(String key) {
      try {
        if (!Files.isRegularFile(path(key))) {
          throw new NoSuchFileException(key);
        }
        return Files.newInputStream(path(key));
      } catch (IOException e) {
        throw new NotFoundException("No object at '" + key + "'.", Map.of("key", key));
      }
    }

    @Override
    public int readRange(String key, long offset, byte[] into) {
      try (FileChannel ch = FileChannel.open(path(key), StandardOpenOption.READ)) {
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(into);
        long pos = offset;
        while (buf.hasRemaining()) {
          int n = ch.read(buf, pos);
          if (n < 0) {
            break;
          }
          pos += n;
        }
        return buf.position();
      } catch (NoSuchFileException e) {
        throw new NotFoundException("No object at '" + key + "'.", Map.of("key", key));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public OutputStream openWrite(String key) {
      Path target = path(key);
      try {
        Files.createDirectories(target.getParent());
        Path tmp = target.resolveSibling(TMP_PREFIX + UUID.randomUUID().toString().replace("-", ""));
        OutputStream out = Files.newOutputStream(tmp, StandardOpenOption.CREATE_NEW);
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
            try {
              Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
              Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            } finally {
              Files.deleteIfExists(tmp);
            }
          }
        };
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public void delete(String key) {
      try {
        if (!Files.deleteIfExists(path(key))) {
          throw new NotFoundException("No object at '" + key + "'.", Map.of("key", key));
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public List<String> list(String prefix, boolean recursive) {
      Path base = path(prefix);
      List<String> out = new ArrayList<>();
      if (!Files.isDirectory(base)) {
        return out;
      }
      try (Stream<Path> s = recursive ? Files.walk(base) : Files.list(base)) {
        s.filter(p -> !p.equals(base) && !p.getFileName().toString().startsWith(TMP_PREFIX))
            .filter(p -> !recursive || Files.isRegularFile(p))
            .sorted()
            .forEach(p -> out.add(keyOf(p, prefix) + (Files.isDirectory(p) ? "/" : "")));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return out;
    }
  }

  /** A bucket on S3 (or an S3-compatible store) with vended credentials. */
  static final class S3 extends ObjectBackend {
    private final S3Client s3;
    private final String bucket;

    S3(StorageCredentials c) {
      this.bucket = c.bucket();
      var b = S3Client.builder()
          .region(Region.of(c.region() == null ? "us-east-1" : c.region()))
          .credentialsProvider(StaticCredentialsProvider.create(
              AwsSessionCredentials.create(c.accessKeyId(), c.secretAccessKey(), c.sessionToken())))
          .httpClientBuilder(UrlConnectionHttpClient.builder())
          .forcePathStyle(true);
      if (c.endpointUrl() != null) {
        b.endpointOverride(URI.create(c.endpointUrl()));
      }
      this.s3 = b.build();
    }

    @Override
    public long size(String key) {
      try {
        HeadObjectResponse h = s3.headObject(r -> r.bucket(bucket).key(key));
        return h.contentLength();
      } catch (NoSuchKeyException e) {
        return -1;
      } catch (S3Exception e) {
        if (e.statusCode() == 404) {
          return -1;
        }
        throw e;
      }
    }

    @Override
    public boolean isDir(String key) {
      return !s3.listObjectsV2(r -> r.bucket(bucket).prefix(key.replaceAll("/*$", "/")).maxKeys(1)).contents()
          .isEmpty();
    }

    @Override
    public InputStream openRead(String key) {
      try {
        return s3.getObject(r -> r.bucket(bucket).key(key));
      } catch (NoSuchKeyException e) {
        throw new NotFoundException("No object at '" + key + "'.", Map.of("key", key));
      }
    }

    @Override
    public int readRange(String key, long offset, byte[] into) {
      if (into.length == 0) {
        return 0;
      }
      try (InputStream in = s3.getObject(r -> r.bucket(bucket).key(key)
          .range("bytes=" + offset + "-" + (offset + into.length - 1)))) {
        return in.readNBytes(into, 0, into.length);
      } catch (NoSuchKeyException e) {
        throw new NotFoundException("No object at '" + key + "'.", Map.of("key", key));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public OutputStream openWrite(String key) {
      try {
        Path tmp = Files.createTempFile("larder-upload-", ".part");
        OutputStream out = Files.newOutputStream(tmp);
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
            try {
              s3.putObject(r -> r.bucket(bucket).key(key), RequestBody.fromFile(tmp));
            } finally {
              Files.deleteIfExists(tmp);
            }
          }
        };
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public void delete(String key) {
      if (size(key) < 0) {
        throw new NotFoundException("No object at '" + key + "'.", Map.of("key", key));
      }
      s3.deleteObject(r -> r.bucket(bucket).key(key));
    }

    @Override
    public List<String> list(String prefix, boolean recursive) {
      String p = prefix.replaceAll("/*$", "/");
      List<String> out = new ArrayList<>();
      var resp = s3.listObjectsV2Paginator(r -> r.bucket(bucket).prefix(p).delimiter(recursive ? null : "/"));
      resp.forEach(page -> {
        page.commonPrefixes().forEach(cp -> out.add(cp.prefix()));
        for (S3Object o : page.contents()) {
          out.add(o.key());
        }
      });
      out.sort(null);
      return out;
    }
  }
}
