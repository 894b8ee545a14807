/**
 * The feature store: feature groups (metadata, queries, commits, online rows), feature views
 * (online feature vectors over REST, training dataset metadata) and engine-neutral queries whose
 * {@link dev.larder.featurestore.Query#plan()} larder-spark runs.
 */
package dev.larder.featurestore;
