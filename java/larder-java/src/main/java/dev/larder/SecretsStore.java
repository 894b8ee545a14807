package dev.larder;

import dev.larder.errors.ConfigurationException;
import java.util.Map;

/**
 * Where the API key is looked up last, after {@code apiKeyValue}, {@code apiKeyFile} and the
 * environment variable {@code LARDER_API_KEY} (the same stores as the Python client's {@code
 * secrets_store}).
 */
public enum SecretsStore {
  /** {@code ~/.larder/credentials}: an INI file with a section {@code [host:port]} (or {@code [host]})
   * holding {@code api_key = ...}, written by {@code larder login}. The default. */
  LOCAL("local"),
  /** AWS Secrets Manager: the secret {@code larder/role/<role>}, a JSON object whose field {@code
   * api-key} is the key; {@code <role>} is the IAM role the process runs as (from STS). */
  SECRETS_MANAGER("secretsmanager"),
  /** AWS SSM Parameter Store: the {@code SecureString} {@code /larder/role/<role>/type/api-key}. */
  PARAMETER_STORE("parameterstore");

  private final String wireName;

  SecretsStore(String wireName) {
    this.wireName = wireName;
  }

  /**
   * The Python client's name of the store.
   *
   * @return {@code "local"}, {@code "secretsmanager"} or {@code "parameterstore"}
   */
  public String wireName() {
    return wireName;
  }

  /**
   * The store of a name, as the Python client spells it ({@code "secretsmanager"}) or as this enum
   * does ({@code "SECRETS_MANAGER"}).
   *
   * @param name the name
   * @return the store
   * @throws ConfigurationException for an unknown name (the message lists the allowed ones)
   */
  public static SecretsStore of(String name) {
    for (SecretsStore s : values()) {
      if (s.wireName.equalsIgnoreCase(name) || s.name().equalsIgnoreCase(name)) {
        return s;
      }
    }
    throw new ConfigurationException("Unknown secrets store '" + name
        + "'; use one of 'local', 'secretsmanager', 'parameterstore' (SecretsStore.LOCAL, SECRETS_MANAGER, "
        + "PARAMETER_STORE).", Map.of("secrets_store", String.valueOf(name)));
  }
}
