package dev.larder.storage;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.internal.Names;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A namespace: a bucket (or top folder) on an object store that holds datasets (Hoss style). Get
 * one with {@code conn.getNamespace("default")}.
 *
 * <pre>{@code
 * Dataset ds = conn.getNamespace("default").getDataset("raw_events");
 * ds.ref("2024/day1.csv").writeBytes("a,b\n1,2\n".getBytes(UTF_8), Map.of("source", "crm"));
 * }</pre>
 */
public final class Namespace {
  private final Storage storage;
  private final String name;
  private final String description;
  private final String objectStore;
  private final String bucket;

  Namespace(Storage storage, JsonNode info) {
    this.storage = storage;
    this.name = info.path("name").asText();
    this.description = info.path("description").asText("");
    this.objectStore = info.path("object_store").asText("");
    this.bucket = info.path("bucket").asText("");
  }

  /** @return the namespace name */
  public String name() {
    return name;
  }

  /** @return what it holds */
  public String description() {
    return description;
  }

  /** @return the object store it lives on */
  public String objectStore() {
    return objectStore;
  }

  /** @return the bucket (or folder) on that store */
  public String bucket() {
    return bucket;
  }

  Storage storage() {
    return storage;
  }

  /**
   * A dataset by name.
   *
   * @param dataset the dataset name
   * @return the dataset, with your access
   * @throws dev.larder.errors.NotFoundException when it does not exist or you have no access to it
   */
  public Dataset getDataset(String dataset) {
    Names.check("dataset", dataset);
    return new Dataset(this, storage.rest().get("/namespaces/" + name + "/datasets/" + dataset));
  }

  /** @return the datasets of this namespace that you may read */
  public List<Dataset> listDatasets() {
    List<Dataset> out = new ArrayList<>();
    for (JsonNode d : storage.rest().get("/namespaces/" + name + "/datasets")) {
      out.add(new Dataset(this, d));
    }
    return out;
  }

  /**
   * Creates a dataset (platform role privileged/admin, or a project's data owner).
   *
   * @param dataset 2-80 characters: lowercase letters, digits, {@code _} or {@code -}
   * @param description what it holds
   * @return the new dataset (you own it, with {@code rw} access)
   * @throws dev.larder.errors.AlreadyExistsException when it exists
   */
  public Dataset createDataset(String dataset, String description) {
    Names.check("dataset", dataset);
    return new Dataset(this, storage.rest().post("/namespaces/" + name + "/datasets",
        Map.of("name", dataset, "description", description == null ? "" : description)));
  }

  /**
   * Deletes a dataset and every object under its prefix (owner or admin).
   *
   * @param dataset the dataset name
   */
  public void deleteDataset(String dataset) {
    Names.check("dataset", dataset);
    storage.rest().delete("/namespaces/" + name + "/datasets/" + dataset);
  }

  @Override
  public String toString() {
    return "Namespace(" + name + ", objectStore=" + objectStore + ")";
  }
}
