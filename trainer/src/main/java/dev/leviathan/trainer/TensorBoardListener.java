package dev.leviathan.trainer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.UUID;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.summary.SummaryWriter;
import org.tensorflow.proto.SummaryMetadata;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TString;

/**
 * Writes TensorBoard event files into {@link RunDirectory#tensorBoard()} ({@code <run>/tb/}) with
 * TensorFlow's own summary-writer ops, in a small graph and session of its own (the model's graph is not
 * touched). At every evaluation it logs the
 * scalars {@link #SCALARS} at the evaluation's step; the run's config.yaml is logged as text tag
 * {@code config} at the first step of each (re)start, the final sample as text tag {@code sample}.
 * On resume, events after the checkpoint's step are first removed from the existing files, then a new file
 * is added, so every (tag, step) occurs once; a fresh (not resumed) run deletes earlier event files.
 */
public final class TensorBoardListener implements TrainingListener, AutoCloseable {
  /** Scalar tags, in the order they are written. */
  public static final java.util.List<String> SCALARS =
      java.util.List.of("loss/train", "loss/val", "bpc/val", "lr", "tokens_per_sec", "grad_norm");

  private final Graph graph = new Graph();
  private final Session session;
  private final Placeholder<TString> logdir;
  private final Placeholder<TString> suffix;
  private final Placeholder<TInt64> step;
  private final Placeholder<TString> tag;
  private final Placeholder<TFloat32> value;
  private final Placeholder<TString> text;
  private final Op create;
  private final Op writeScalar;
  private final Op writeText;
  private final Op flush;
  private final Op closeWriter;
  private boolean open;
  private double gradNorm = Double.NaN;

  public TensorBoardListener() {
    Ops tf = Ops.create(graph);
    SummaryWriter writer = tf.summary.summaryWriter(SummaryWriter.sharedName("leviathan_tb"));
    logdir = tf.withName("logdir").placeholder(TString.class, Placeholder.shape(Shape.scalar()));
    suffix = tf.withName("suffix").placeholder(TString.class, Placeholder.shape(Shape.scalar()));
    create = tf.summary.createSummaryFileWriter(writer, logdir, tf.constant(100), tf.constant(60_000), suffix);
    step = tf.withName("step").placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
    tag = tf.withName("tag").placeholder(TString.class, Placeholder.shape(Shape.scalar()));
    value = tf.withName("value").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
    text = tf.withName("text").placeholder(TString.class, Placeholder.shape(Shape.scalar()));
    byte[] textPlugin = SummaryMetadata.newBuilder()
        .setPluginData(SummaryMetadata.PluginData.newBuilder().setPluginName("text")).build().toByteArray();
    writeScalar = tf.summary.writeScalarSummary(writer, step, tag, value);
    writeText = tf.summary.writeSummary(writer, step, text, tag,
        tf.constant(StandardCharsets.ISO_8859_1, new String(textPlugin, StandardCharsets.ISO_8859_1)));
    flush = tf.summary.flushSummaryWriter(writer);
    closeWriter = tf.summary.closeSummaryWriter(writer);
    // CPU only and one thread each: the writer ops are tiny, and on a GPU machine this session must not
    // claim the GPU before the model's session does.
    session = new Session(graph, Devices.configure(org.tensorflow.proto.ConfigProto.newBuilder(), Devices.Choice.CPU)
        .setIntraOpParallelismThreads(1).setInterOpParallelismThreads(1).build());
  }

  @Override
  public void started(Start s) {
    Path dir = new RunDirectory(s.runDir()).tensorBoard();
    if (s.resumed()) {
      long from = s.firstStep();
      EventFiles.removeEvents(dir, e -> e.getStep() > from
          || e.getStep() == from && e.hasSummary() && e.getSummary().getValueList().stream()
              .anyMatch(v -> v.getTag().equals("config")));
    } else {
      // A fresh run starts a fresh log, as it starts a fresh metrics.csv (e.g. after a run that died
      // before its first checkpoint).
      for (Path f : EventFiles.files(dir)) {
        try {
          Files.delete(f);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
    }
    // A fresh suffix per writer: TensorFlow names the file by the second and host, and would
    // overwrite a file of a run resumed within the same second.
    String sfx = String.format(Locale.ROOT, ".s%d.%s", s.firstStep(), UUID.randomUUID().toString().substring(0, 8));
    try (TString d = TString.scalarOf(dir.toString()); TString x = TString.scalarOf(sfx)) {
      session.runner().feed(logdir, d).feed(suffix, x).addTarget(create).run().close();
    }
    open = true;
    Path config = new RunDirectory(s.runDir()).config();
    if (Files.exists(config)) {
      text(s.firstStep(), "config", read(config));
    }
    flush();
  }

  @Override
  public void gradientNorm(long step, double norm) {
    gradNorm = norm;
  }

  @Override
  public void evaluated(Evaluation e, boolean best) {
    double[] values = {e.trainLoss(), e.valLoss(), e.valBpc(), e.lr(), e.tokensPerSec(), gradNorm};
    for (int i = 0; i < values.length; i++) {
      if (!Double.isNaN(values[i])) {
        scalar(e.step(), SCALARS.get(i), values[i]);
      }
    }
    flush();
  }

  @Override
  public void sampled(long step, String sample) {
    text(step, "sample", sample);
    flush();
  }

  @Override
  public void finished() {
    flush();
  }

  private void scalar(long at, String name, double v) {
    try (TInt64 s = TInt64.scalarOf(at); TString t = TString.scalarOf(name); TFloat32 x = TFloat32.scalarOf((float) v)) {
      session.runner().feed(step, s).feed(tag, t).feed(value, x).addTarget(writeScalar).run().close();
    }
  }

  /** Text as TensorBoard's text plugin shows it: Markdown, so the text is indented into a code block. */
  private void text(long at, String name, String content) {
    String md = content.lines().map(l -> "    " + l).collect(java.util.stream.Collectors.joining("\n"));
    try (TInt64 s = TInt64.scalarOf(at); TString t = TString.scalarOf(name); TString x = TString.scalarOf(md)) {
      session.runner().feed(step, s).feed(tag, t).feed(text, x).addTarget(writeText).run().close();
    }
  }

  private void flush() {
    if (open) {
      session.runner().addTarget(flush).run().close();
    }
  }

  private static String read(Path p) {
    try {
      return Files.readString(p, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    try {
      if (open) {
        session.runner().addTarget(closeWriter).run().close();
      }
    } finally {
      session.close();
      graph.close();
    }
  }
}
