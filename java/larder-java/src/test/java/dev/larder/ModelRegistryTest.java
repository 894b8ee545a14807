package dev.larder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.errors.ArtifactCorruptedException;
import dev.larder.errors.InvalidArgumentException;
import dev.larder.errors.NotFoundException;
import dev.larder.registry.Artifact;
import dev.larder.registry.Checksums;
import dev.larder.registry.Model;
import dev.larder.registry.ModelRegistry;
import dev.larder.testing.TestPlatform;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The model registry: versions saved by the Python client, downloaded byte-equal and verified. */
class ModelRegistryTest {
  static final TestPlatform P = TestPlatform.get();
  static LarderConnection conn;
  static ModelRegistry mr;

  @TempDir Path tmp;

  @BeforeAll
  static void open() {
    conn = P.builder().apiKeyValue(P.key("carol")).build();
    mr = conn.getModelRegistry();
  }

  @AfterAll
  static void close() {
    conn.close();
  }

  @Test
  void latestBestAndByVersion() {
    JsonNode m = P.json().path("model");
    int best = m.path("best_version").asInt();
    assertEquals(best, mr.getModel("fraud").version());
    assertEquals(best, mr.getBestModel("fraud", "auc", "max").version());
    assertEquals(best, mr.getBestModel("fraud", "loss", "min").version());
    Model first = mr.getModel("fraud", m.path("versions").get(0).asInt());
    assertEquals("first", first.description());
    assertEquals(0.81, first.metrics().get("auc"), 1e-12);
    assertEquals(3, first.fileCount());
    assertEquals(2, mr.getModels("fraud").size());
    assertTrue(mr.getModelNames().contains("fraud"));
    NotFoundException nf = assertThrows(NotFoundException.class, () -> mr.getModel("fraud", 99));
    assertTrue(nf.getMessage().contains("fraud"), nf.getMessage());
    assertThrows(InvalidArgumentException.class, () -> mr.getBestModel("fraud", "auc", "up"));
  }

  @Test
  void downloadIsByteEqualWithChecksumsChecked() throws Exception {
    Model model = mr.getModel("fraud");
    List<Artifact> artifacts = model.artifacts();
    Artifact big = artifacts.stream().filter(a -> a.path().equals("weights/big.bin")).findFirst().orElseThrow();
    assertEquals("blake3", big.algorithm(), "a local store's saves are BLAKE3");
    assertNotNull(big.parts());
    assertEquals(2, big.parts().size(), "9 MiB in 8 MiB parts");
    assertEquals(big.checksum(), Checksums.composite(big.parts(), "blake3"));
    Path dir = model.download(tmp.resolve("fraud"));
    JsonNode files = P.json().at("/model/files");
    Iterator<Map.Entry<String, JsonNode>> it = files.fields();
    int n = 0;
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> f = it.next();
      byte[] want = Files.readAllBytes(Path.of(f.getValue().asText()));
      assertArrayEquals(want, Files.readAllBytes(dir.resolve(f.getKey())), f.getKey());
      n++;
    }
    assertEquals(3, n);
    try (var s = Files.list(dir)) {
      assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".larder-")), "no staging left");
    }
  }

  @Test
  void aModelOnS3IsDownloadedWithItsSha256PartsChecked() throws Exception {
    JsonNode s3 = P.json().at("/model/s3");
    try (LarderConnection c = P.builder().project(s3.path("project").asText()).build()) {
      Model m = c.getModelRegistry().getModel(s3.path("name").asText(), s3.path("version").asInt());
      Artifact big = m.artifacts().stream().filter(a -> a.path().equals("weights/big.bin")).findFirst().orElseThrow();
      assertEquals("sha256", big.algorithm(), "S3 stores' saves are SHA-256");
      assertEquals(2, big.parts().size());
      Path dir = m.download(tmp.resolve("lake"));
      Iterator<Map.Entry<String, JsonNode>> it = P.json().at("/model/files").fields();
      while (it.hasNext()) {
        Map.Entry<String, JsonNode> f = it.next();
        assertArrayEquals(Files.readAllBytes(Path.of(f.getValue().asText())), Files.readAllBytes(dir.resolve(f.getKey())),
            f.getKey());
      }
    }
  }

  @Test
  void corruptedArtifactIsRefusedAndNothingIsLeft() throws Exception {
    JsonNode bad = P.json().at("/model/corrupted");
    Model broken = mr.getModel(bad.path("name").asText(), bad.path("version").asInt());
    Path dir = tmp.resolve("broken");
    ArtifactCorruptedException e = assertThrows(ArtifactCorruptedException.class, () -> broken.download(dir));
    assertTrue(e.getMessage().contains("model.bin") && e.getMessage().contains("BLAKE3 checksum differs"),
        e.getMessage());
    try (var s = Files.list(dir)) {
      assertEquals(0, s.count(), "nothing was downloaded");
    }
  }

  @Test
  void checksumsMatchKnownVectors() throws Exception {
    byte[] abc = "abc".getBytes(StandardCharsets.UTF_8);
    assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Checksums.of("sha256", abc, 3));
    // BLAKE3 of the empty input (the reference test vector)
    assertEquals("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        Checksums.of("blake3", new byte[0], 0));
    String part = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(abc));
    assertEquals(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(HexFormat.of().parseHex(part))),
        Checksums.composite(List.of(part), "sha256"));
    assertThrows(dev.larder.errors.ConfigurationException.class, () -> Checksums.hasher("md5"));
    assertFalse(Checksums.of("blake3", abc, 3).equals(Checksums.of("sha256", abc, 3)));
  }
}
