package dev.larder.registry;

import com.fasterxml.jackson.databind.JsonNode;
import dev.larder.LarderConnection;
import dev.larder.errors.InvalidArgumentException;
import dev.larder.errors.NotFoundException;
import dev.larder.internal.Json;
import dev.larder.internal.Names;
import dev.larder.internal.RestClient;
import dev.larder.storage.ObjectBackend;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A project's model registry (hsml style): models, their versions and artifacts. Get one with {@link
 * LarderConnection#getModelRegistry()}. Saving models is the Python client's job; from the JVM you
 * find, inspect and download them (bytes go straight from the object store, each file's checksum
 * verified).
 *
 * <pre>{@code
 * ModelRegistry mr = conn.getModelRegistry();
 * Model best = mr.getBestModel("fraud", "auc", "max");
 * Path dir = best.download(Path.of("/tmp/fraud"));
 * }</pre>
 */
public final class ModelRegistry {
  private final String project;
  private final LarderConnection connection;
  private volatile Map<String, Object> info;

  /**
   * Handed out by {@link LarderConnection#getModelRegistry()}.
   *
   * @param project the project
   * @param connection the connection
   */
  public ModelRegistry(String project, LarderConnection connection) {
    this.project = project;
    this.connection = connection;
  }

  /** @return the project whose registry this is */
  public String project() {
    return project;
  }

  RestClient rest() {
    return connection.restClient();
  }

  String base() {
    return "/projects/" + project + "/models";
  }

  Map<String, Object> info() {
    Map<String, Object> i = info;
    if (i == null) {
      i = Json.toMap(rest().get(base() + "/_registry"));
      info = i;
    }
    return i;
  }

  ObjectBackend backend() {
    Map<String, Object> i = info();
    return ObjectBackend.of(connection.storage().reusableCredentials((String) i.get("namespace"),
        List.of((String) i.get("dataset"))));
  }

  /**
   * The newest ready version of a model.
   *
   * @param name the model's name
   * @return the version
   * @throws NotFoundException naming the model
   */
  public Model getModel(String name) {
    return getModel(name, null);
  }

  /**
   * A ready model version.
   *
   * @param name the model's name (2-63 lowercase letters, digits, {@code _} or {@code -})
   * @param version the version; null: the newest ready one
   * @return the version's metadata
   * @throws NotFoundException naming the model and version
   */
  public Model getModel(String name, Integer version) {
    Names.check("model", name);
    JsonNode d = rest().get(base() + "/" + name + "/versions/" + (version == null ? "latest" : version));
    return new Model(this, d);
  }

  /**
   * Every ready version of a model, oldest first.
   *
   * @param name the model's name
   * @return the versions (empty when there is none)
   */
  public List<Model> getModels(String name) {
    Names.check("model", name);
    List<Model> out = new ArrayList<>();
    for (JsonNode d : rest().get(base() + "/" + name + "/versions")) {
      out.add(new Model(this, d));
    }
    return out;
  }

  /**
   * The ready version with the best value of a metric.
   *
   * @param name the model's name
   * @param metric a metric recorded with the versions, e.g. {@code "auc"}
   * @param direction {@code "max"} (higher is better) or {@code "min"}
   * @return the best version
   * @throws NotFoundException when no version has the metric
   * @throws InvalidArgumentException on another direction
   */
  public Model getBestModel(String name, String metric, String direction) {
    Names.check("model", name);
    if (!"max".equals(direction) && !"min".equals(direction)) {
      throw new InvalidArgumentException("direction must be \"max\" or \"min\", got '" + direction + "'.",
          Map.of("direction", String.valueOf(direction)));
    }
    return new Model(this, rest().get(base() + "/" + name + "/best"
        + RestClient.query(Map.of("metric", metric, "direction", direction))));
  }

  /** @return the names of the models that have a ready version */
  public List<String> getModelNames() {
    List<String> out = new ArrayList<>();
    for (JsonNode m : rest().get(base())) {
      out.add(m.path("name").asText());
    }
    return out;
  }

  @Override
  public String toString() {
    return "ModelRegistry(project=" + project + ")";
  }
}
