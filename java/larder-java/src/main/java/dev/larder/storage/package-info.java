/**
 * Storage: namespaces, datasets and object streams read and written directly in the object store
 * (a local folder, or S3 with vended, dataset-scoped credentials).
 */
package dev.larder.storage;
