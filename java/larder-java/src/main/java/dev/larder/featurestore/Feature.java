package dev.larder.featurestore;

/**
 * One feature (column) of a feature group: its name and type as the platform records them (the
 * Arrow type names the Python engine writes, e.g. {@code "int64"}, {@code "double"}, {@code
 * "string"}, {@code "timestamp[us, tz=UTC]"}).
 *
 * @param name the feature's name
 * @param type its type name
 * @param primary whether it is part of the primary key
 * @param eventTime whether it is the event time
 */
public record Feature(String name, String type, boolean primary, boolean eventTime) {}
