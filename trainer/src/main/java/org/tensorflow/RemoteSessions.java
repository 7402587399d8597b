package org.tensorflow;

import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetConfig;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetTarget;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.tensorflow.internal.c_api.TF_Graph;
import org.tensorflow.internal.c_api.TF_Session;
import org.tensorflow.internal.c_api.TF_SessionOptions;
import org.tensorflow.internal.c_api.TF_Status;
import org.tensorflow.proto.ConfigProto;

/**
 * Opens a {@link Session} on a session target such as {@code grpc://127.0.0.1:2222} (a TensorFlow
 * server, local or remote), which TensorFlow Java 1.1.0's public constructors cannot do: they always
 * pass an empty target.
 *
 * <p><b>This class is the project's only use of non-public TensorFlow Java API</b>, and the reason it
 * sits in package {@code org.tensorflow}: it calls the package-private {@code Graph.ref()} (to hold
 * the graph's native handle while the session is made) and the package-private
 * {@code Session(Graph, TF_Session)} constructor (to wrap the native session). The native session
 * is made exactly as {@code Session}'s own private {@code allocate} makes one, plus
 * {@code TF_SetTarget}: {@code TF_NewSessionOptions}, {@code TF_SetTarget}, {@code TF_SetConfig}
 * with the serialized {@code ConfigProto}, {@code TF_Session.newSession(graph, options, status)}.
 * It works on the class path (one class loader, same package); on the module path
 * {@code org.tensorflow} is a named module and this class cannot join its package. Revisit on every
 * TensorFlow Java upgrade.
 *
 * <p>The wrapping constructor does not initialise variables on first run (autoInit is off): call
 * {@link Session#initialize()} before the first {@code run}.
 */
public final class RemoteSessions {
  private RemoteSessions() {}

  /**
   * A session on {@code graph} that runs on {@code target}.
   *
   * @param graph the graph to run (the session keeps a reference to it until closed)
   * @param target e.g. {@code grpc://127.0.0.1:2222}
   * @param config the session's configuration (threads, collective group leader, device filters)
   * @throws org.tensorflow.exceptions.TensorFlowException when TensorFlow refuses the options or the target
   */
  public static Session open(Graph graph, String target, ConfigProto config) {
    try (Graph.Reference ref = graph.ref(); PointerScope scope = new PointerScope()) {
      TF_Graph handle = ref.nativeHandle();
      if (handle == null || handle.isNull()) {
        throw new IllegalStateException("the graph has been closed");
      }
      TF_Status status = TF_Status.newStatus();
      TF_SessionOptions options = TF_SessionOptions.newSessionOptions();
      TF_SetTarget(options, target);
      BytePointer bytes = new BytePointer(config.toByteArray());
      TF_SetConfig(options, bytes, bytes.capacity(), status);
      status.throwExceptionIfNotOK();
      TF_Session session = TF_Session.newSession(handle, options, status);
      status.throwExceptionIfNotOK();
      return new Session(graph, session.retainReference());
    }
  }
}
