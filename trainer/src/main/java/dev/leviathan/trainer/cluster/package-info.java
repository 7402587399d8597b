/**
 * Data-parallel training on TensorFlow's own distributed runtime (the gRPC server and collective
 * ops inside the TensorFlow native library).
 *
 * <p>Every worker process starts a {@link dev.leviathan.trainer.cluster.WorkerServer} for its task
 * of the {@link dev.leviathan.trainer.cluster.ClusterSpec}, builds the same graph, and runs it in a
 * session on its own server. Gradients are packed into one flat vector
 * ({@link dev.leviathan.trainer.cluster.FlatPack}), averaged over workers by one
 * {@link dev.leviathan.trainer.cluster.CollectiveMean} and unpacked, inside the same
 * {@code Session.run} as the rest of the step ({@link dev.leviathan.trainer.cluster.ClusterTraining}
 * puts these together for a training run); a
 * {@link dev.leviathan.trainer.cluster.StepWatchdog} bounds every step in Java. Nothing here is a
 * parameter server or a transport of our own.
 */
package dev.leviathan.trainer.cluster;
