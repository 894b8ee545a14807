package dev.larder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.larder.errors.InvalidArgumentException;
import dev.larder.errors.NotFoundException;
import dev.larder.storage.Dataset;
import dev.larder.storage.DatasetRef;
import dev.larder.storage.Namespace;
import dev.larder.testing.TestPlatform;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Namespaces, datasets and object streams on the platform's local object store. */
class StorageTest {
  static final TestPlatform P = TestPlatform.get();

  @TempDir Path tmp;

  @Test
  void objectStreamsRoundTripWithMetadata() throws Exception {
    try (LarderConnection conn = P.builder().build()) {
      Namespace ns = conn.getNamespace("default");
      assertTrue(conn.listNamespaces().stream().anyMatch(n -> n.name().equals("default")));
      String name = "jvm-objects-" + UUID.randomUUID().toString().substring(0, 6);
      Dataset ds = ns.createDataset(name, "written from Java");
      assertEquals("rw", ds.access());
      assertTrue(ds.uri().startsWith("file:/"), ds.uri());
      assertEquals(Map.of(), ds.storageOptions());
      byte[] data = new byte[3 * 1024 * 1024 + 7];
      new Random(3).nextBytes(data);
      DatasetRef ref = ds.ref("raw/2024/blob.bin");
      try (OutputStream out = ref.openOutputStream(Map.of("source", "jvm", "year", "2024"))) {
        out.write(data, 0, 1000);
        out.write(data, 1000, data.length - 1000);
        assertFalse(ref.isFile(), "not visible before close()");
      }
      assertTrue(ref.isFile());
      assertEquals(data.length, ref.size());
      try (InputStream in = ref.openInputStream()) {
        assertArrayEquals(data, in.readAllBytes());
      }
      assertEquals(Map.of("source", "jvm", "year", "2024"), ref.metadata());
      ds.ref("raw/notes.txt").writeBytes("héllo".getBytes(java.nio.charset.StandardCharsets.UTF_8), null);
      assertEquals(List.of("raw/2024", "raw/notes.txt"), ds.ref("raw").list().stream().map(DatasetRef::key).toList());
      Path local = ds.ref("raw/notes.txt").download(tmp.resolve("notes.txt"));
      assertEquals("héllo", Files.readString(local));
      // what the Java client wrote, the platform's directory holds as is
      assertTrue(Files.exists(Path.of(java.net.URI.create(ref.uri()))));
      ref.delete();
      assertFalse(ref.isFile());
      assertThrows(NotFoundException.class, ref::readBytes);
      assertThrows(InvalidArgumentException.class, () -> ds.ref("../escape"));
      assertThrows(InvalidArgumentException.class, () -> ds.ref("/abs"));
      ns.deleteDataset(name);
      assertThrows(NotFoundException.class, () -> ns.getDataset(name));
    }
  }

  @Test
  void objectStreamsOnS3WithVendedCredentials() throws Exception {
    String admin = Files.readString(Path.of(P.str("/admin_key_file"))).strip();
    try (LarderConnection conn = P.builder().apiKeyValue(admin).build()) {
      Namespace lake = conn.getNamespace("lake");
      assertEquals("larder-jvm-lake", lake.bucket());
      String name = "jvm-s3-" + UUID.randomUUID().toString().substring(0, 6);
      Dataset ds = lake.createDataset(name, "on moto's S3");
      assertEquals("s3://larder-jvm-lake/" + name, ds.uri());
      assertTrue(ds.storageOptions().containsKey("AWS_SESSION_TOKEN"));
      assertFalse(ds.credentials().toString().contains(ds.credentials().secretAccessKey()), "no secret in toString");
      byte[] data = new byte[2 * 1024 * 1024 + 3];
      new Random(5).nextBytes(data);
      DatasetRef ref = ds.ref("a/b/blob.bin");
      try (OutputStream out = ref.openOutputStream(Map.of("where", "s3"))) {
        out.write(data);
      }
      assertEquals(data.length, ref.size());
      assertArrayEquals(data, ref.readBytes());
      assertEquals(Map.of("where", "s3"), ref.metadata());
      assertEquals(List.of("a/b"), ds.ref("a").list().stream().map(DatasetRef::key).toList());
      ref.delete();
      assertFalse(ref.isFile());
      lake.deleteDataset(name);
    }
  }

  @Test
  void othersDatasetsStayInvisible() {
    try (LarderConnection alice = P.builder().build();
        LarderConnection bob = P.builder().apiKeyValue(P.key("bob")).build()) {
      String name = "jvm-private-" + UUID.randomUUID().toString().substring(0, 6);
      alice.getNamespace("default").createDataset(name, "");
      assertThrows(NotFoundException.class, () -> bob.getNamespace("default").getDataset(name));
      alice.getNamespace("default").deleteDataset(name);
    }
  }
}
