/**
 * The Larder JVM connector: {@link dev.larder.LarderConnection#builder()} and {@link
 * dev.larder.Larder#connect(String)}; feature store ({@link dev.larder.featurestore}), model
 * registry ({@link dev.larder.registry}) and storage ({@link dev.larder.storage}) handles.
 */
package dev.larder;
