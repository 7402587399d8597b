package dev.leviathan.app.bench;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tensorflow.proto.AttrValue;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.NodeOutput;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.TensorShapeProto;

/**
 * Where the time of traced training steps goes, from TensorFlow's full-trace run metadata: the step
 * stats give each executed node's kernel start and end and its output shapes; the partition graphs
 * give the graph as optimised and executed (op type, inputs, attributes).
 *
 * <ul>
 *   <li>kernel time of a node = {@code op_end - op_start}; the step's wall time = last node end minus
 *       first node start. With several threads the kernel time may exceed the wall time.
 *   <li>op type: that of the executed node, so fused kernels (for example {@code _FusedMatMul}) show up
 *       under their own name;
 *   <li>scope: from the node name (the graph's name scopes survive optimisation in the name prefix):
 *       {@code embedding}, {@code blockI/token-mixer}, {@code blockI/channel-mixer},
 *       {@code blockI/norms}, {@code blockI/residual}, {@code head} (final norm and LM head),
 *       {@code loss}, {@code optimiser}, {@code parameters} (variable reads) and {@code other}; each
 *       in phase {@code forward} or {@code backward} (nodes under a {@code gradients} scope) or
 *       {@code update} (the optimiser);
 *   <li>matmul FLOPs: {@code 2 * |output| * K} with {@code K} the contracted size, read from the
 *       first input's shape and the transpose/adjoint attribute.
 * </ul>
 */
public final class StepProfile {
  /**
   * Whether an op type is a matrix product whose FLOPs are counted: {@code MatMul}, {@code BatchMatMulV3} and
   * their fused and oneDNN forms ({@code _FusedMatMul}, {@code _MklNativeFusedMatMul}, ...).
   */
  static boolean isMatmul(String op) {
    return op.contains("MatMul") && !op.startsWith("Sparse");
  }

  private static final Pattern GRADIENTS = Pattern.compile("(?i)(^|/)gradients(_\\d+)?/");
  private static final Pattern BLOCK_PART = Pattern.compile("(?:^|/|_)block(\\d+)(?:_\\d+)?/(mix|ffn|norm1|norm2)(?:/|$|_)");
  /** Ops that read only the shape of their input, not its data. */
  private static final java.util.Set<String> SHAPE_ONLY = java.util.Set.of("Shape", "ShapeN", "Size", "Rank");
  private static final Pattern BLOCK = Pattern.compile("(?:^|/|_)block(\\d+)(?:_\\d+)?(?:/|$)");

  /** Totals of one group of executed nodes (per step). */
  public record Group(int nodes, double kernelMs, double gflop) {
    /** GFLOP/s of the group's matmuls, or NaN when it has none. */
    public double gflopPerSec() {
      return gflop > 0 && kernelMs > 0 ? gflop / (kernelMs / 1000) : Double.NaN;
    }
  }

  private final int steps;
  private final double wallMs;
  private final double kernelMs;
  private final int executedNodes;
  private final int optimisedNodes;
  private final Map<String, Group> byOp;
  private final Map<String, Group> byScope;
  private final Map<String, Group> byNode;
  private final Map<String, Node> nodeFacts;
  private final Map<String, Double> savedMb;
  private final int savedTensors;

  /** What the trace says of one executed node: its op type, model scope, phase and first output's shape. */
  private record Node(String op, String scope, String phase, String shape) {}

  private StepProfile(int steps, double wallMs, double kernelMs, int executedNodes, int optimisedNodes,
      Map<String, Group> byOp, Map<String, Group> byScope, Map<String, Group> byNode, Map<String, Node> nodeFacts,
      Map<String, Double> savedMb, int savedTensors) {
    this.steps = steps;
    this.wallMs = wallMs;
    this.kernelMs = kernelMs;
    this.executedNodes = executedNodes;
    this.optimisedNodes = optimisedNodes;
    this.byOp = byOp;
    this.byScope = byScope;
    this.byNode = byNode;
    this.nodeFacts = nodeFacts;
    this.savedMb = savedMb;
    this.savedTensors = savedTensors;
  }

  /** The per-step averages over the traced steps {@code traces} (at least one). */
  public static StepProfile of(List<RunMetadata> traces) {
    if (traces.isEmpty()) {
      throw new IllegalArgumentException("a step profile needs at least one traced step");
    }
    Map<String, Group> byOp = new HashMap<>();
    Map<String, Group> byScope = new HashMap<>();
    Map<String, Group> byNode = new HashMap<>();
    Map<String, Node> nodeFacts = new HashMap<>();
    double wall = 0;
    double kernel = 0;
    int executed = 0;
    int optimised = 0;
    Map<String, Double> savedBytes = new TreeMap<>();
    int savedCount = 0;
    for (RunMetadata md : traces) {
      Map<String, NodeDef> defs = new HashMap<>();
      for (GraphDef g : md.getPartitionGraphsList()) {
        g.getNodeList().forEach(n -> defs.put(n.getName(), n));
      }
      optimised = Math.max(optimised, defs.size());
      Map<String, String> backward = backwardScopes(defs);
      Map<String, List<NodeOutput>> outputs = new HashMap<>();
      List<NodeExecStats> all = new ArrayList<>();
      for (DeviceStepStats d : md.getStepStats().getDevStatsList()) {
        for (NodeExecStats n : d.getNodeStatsList()) {
          all.add(n);
          outputs.computeIfAbsent(n.getNodeName(), k -> new ArrayList<>()).addAll(n.getOutputList());
        }
      }
      long first = Long.MAX_VALUE;
      long last = Long.MIN_VALUE;
      java.util.Set<String> names = new java.util.HashSet<>();
      for (NodeExecStats n : all) {
        long start = startNanos(n);
        first = Math.min(first, start);
        last = Math.max(last, start + endRelNanos(n));
        double ms = kernelNanos(n) / 1e6;
        String op = opType(n, defs.get(n.getNodeName()));
        double flop = isMatmul(op) ? matmulFlops(defs.get(n.getNodeName()), outputs) : 0;
        byOp.merge(op, new Group(1, ms, flop / 1e9), StepProfile::add);
        String name = n.getNodeName();
        String where = isGradient(name) ? backward.getOrDefault(name, "other") + " backward" : scope(name);
        byScope.merge(where, new Group(1, ms, flop / 1e9), StepProfile::add);
        byNode.merge(name, new Group(1, ms, flop / 1e9), StepProfile::add);
        String[] scopePhase = where.split(" ");
        nodeFacts.putIfAbsent(name, new Node(op, scopePhase[0], scopePhase[1], outputShape(n)));
        kernel += ms;
        names.add(n.getNodeName());
      }
      executed += names.size();
      wall += all.isEmpty() ? 0 : (last - first) / 1e6;
      savedCount += keptForBackward(defs, outputs, savedBytes);
    }
    int n = traces.size();
    Map<String, Double> savedMb = new TreeMap<>();
    savedBytes.forEach((k, v) -> savedMb.put(k, v / n / 1e6));
    return new StepProfile(n, wall / n, kernel / n, executed / n, optimised, perStep(byOp, n), perStep(byScope, n),
        perStep(byNode, n), nodeFacts, savedMb, Math.round((float) savedCount / n));
  }

  /**
   * Adds to {@code bytes}, per forward scope, the tensors of one traced step that the backward pass reads:
   * the outputs of forward nodes (activations, and parameters read for the backward products) that some
   * gradient node of the optimised graph takes as input, whose memory is therefore held from the forward
   * pass until that gradient node runs. A tensor counts once however many gradient nodes read it, and so does a
   * buffer seen through views (a reshape, an identity): a node's output that has the address of one of its
   * inputs is that input's buffer, followed back to the node that allocated it, which is also the scope it
   * counts for. (Addresses alone do not tell tensors apart: a buffer freed during the forward pass is reused.)
   * Gradient nodes that read only a tensor's shape ({@link #SHAPE_ONLY}) do not count: they are ready as soon
   * as the tensor exists, run then, during the forward pass, and keep nothing of it.
   * Returns the number of buffers counted.
   */
  private static int keptForBackward(Map<String, NodeDef> defs, Map<String, List<NodeOutput>> outputs,
      Map<String, Double> bytes) {
    java.util.Set<String> seen = new java.util.HashSet<>();
    int count = 0;
    for (NodeDef d : defs.values()) {
      if (!isGradient(d.getName()) || SHAPE_ONLY.contains(d.getOp())) {
        continue;
      }
      for (String in : d.getInputList()) {
        if (in.startsWith("^") || isGradient(source(in))) {
          continue;
        }
        String buffer = buffer(in, defs, outputs);
        NodeOutput out = output(buffer, outputs);
        long size = out == null ? 0 : size(out);
        if (size <= 0 || !seen.add(buffer)) {
          continue;
        }
        bytes.merge(scope(source(buffer)).split(" ")[0], (double) size, Double::sum);
        count++;
      }
    }
    return count;
  }

  private static long size(NodeOutput o) {
    org.tensorflow.proto.AllocationDescription a = o.getTensorDescription().getAllocationDescription();
    return a.getAllocatedBytes() > 0 ? a.getAllocatedBytes() : a.getRequestedBytes();
  }

  private static long address(NodeOutput o) {
    return o.getTensorDescription().getAllocationDescription().getPtr();
  }

  /**
   * The tensor ({@code node:slot}) that allocated the buffer of the tensor {@code input} names: back through
   * inputs with the same address.
   */
  private static String buffer(String input, Map<String, NodeDef> defs, Map<String, List<NodeOutput>> outputs) {
    String key = tensor(input);
    for (int hops = 0; hops < 64; hops++) {
      NodeOutput out = output(key, outputs);
      NodeDef def = defs.get(source(key));
      if (out == null || address(out) == 0 || def == null) {
        return key;
      }
      String next = null;
      for (String in : def.getInputList()) {
        NodeOutput o = in.startsWith("^") ? null : output(in, outputs);
        if (o != null && address(o) == address(out)) {
          next = tensor(in);
          break;
        }
      }
      if (next == null) {
        return key;
      }
      key = next;
    }
    return key;
  }

  /** {@code node:slot} of an input ({@code node} means slot 0). */
  private static String tensor(String input) {
    String name = input.startsWith("^") ? input.substring(1) : input;
    return name.lastIndexOf(':') > 0 ? name : name + ":0";
  }

  /** The shape of a node's first output, {@code 12x64x128}, or {@code -} when the trace has none. */
  private static String outputShape(NodeExecStats n) {
    if (n.getOutputCount() == 0) {
      return "-";
    }
    StringBuilder sb = new StringBuilder();
    for (TensorShapeProto.Dim d : n.getOutput(0).getTensorDescription().getShape().getDimList()) {
      sb.append(sb.length() == 0 ? "" : "x").append(d.getSize());
    }
    return sb.length() == 0 ? "scalar" : sb.toString();
  }

  private static Group add(Group a, Group b) {
    return new Group(a.nodes + b.nodes, a.kernelMs + b.kernelMs, a.gflop + b.gflop);
  }

  private static Map<String, Group> perStep(Map<String, Group> m, int steps) {
    Map<String, Group> out = new TreeMap<>();
    m.forEach((k, g) -> out.put(k, new Group(Math.round((float) g.nodes / steps), g.kernelMs / steps, g.gflop / steps)));
    return out;
  }

  private static long startNanos(NodeExecStats n) {
    return n.getAllStartNanos() != 0 ? n.getAllStartNanos() : n.getAllStartMicros() * 1000;
  }

  private static long endRelNanos(NodeExecStats n) {
    return n.getAllEndRelNanos() != 0 ? n.getAllEndRelNanos() : n.getAllEndRelMicros() * 1000;
  }

  private static long kernelNanos(NodeExecStats n) {
    if (n.getOpEndRelNanos() != 0 || n.getOpStartRelNanos() != 0) {
      return Math.max(0, n.getOpEndRelNanos() - n.getOpStartRelNanos());
    }
    return Math.max(0, n.getOpEndRelMicros() - n.getOpStartRelMicros()) * 1000;
  }

  /** The executed op type: from the optimised graph, else from the timeline label {@code name = Op(...)}. */
  static String opType(NodeExecStats n, NodeDef def) {
    if (def != null) {
      return def.getOp();
    }
    String label = n.getTimelineLabel();
    int eq = label.indexOf(" = ");
    if (eq >= 0) {
      int paren = label.indexOf('(', eq);
      return label.substring(eq + 3, paren < 0 ? label.length() : paren).strip();
    }
    return "(unknown)";
  }

  /** {@code 2 |output| K} of a matrix product, or 0 when a shape is unknown. */
  static double matmulFlops(NodeDef def, Map<String, List<NodeOutput>> outputs) {
    if (def == null || def.getInputCount() < 1) {
      return 0;
    }
    TensorShapeProto a = shapeOf(def.getInput(0), outputs);
    List<NodeOutput> own = outputs.get(def.getName());
    if (a == null || own == null || own.isEmpty()) {
      return 0;
    }
    TensorShapeProto out = own.get(0).getTensorDescription().getShape();
    int rank = a.getDimCount();
    if (rank < 2) {
      return 0;
    }
    boolean transposed = flag(def, "transpose_a") || flag(def, "adj_x");
    long k = a.getDim(transposed ? rank - 2 : rank - 1).getSize();
    double size = 1;
    for (TensorShapeProto.Dim d : out.getDimList()) {
      size *= d.getSize();
    }
    return k > 0 && size > 0 ? 2 * size * k : 0;
  }

  private static boolean flag(NodeDef def, String attr) {
    AttrValue v = def.getAttrMap().get(attr);
    return v != null && v.getB();
  }

  private static TensorShapeProto shapeOf(String input, Map<String, List<NodeOutput>> outputs) {
    NodeOutput o = output(input, outputs);
    return o == null ? null : o.getTensorDescription().getShape();
  }

  /** What the trace says of the tensor an input ({@code node}, {@code node:slot}) names, or null. */
  private static NodeOutput output(String input, Map<String, List<NodeOutput>> outputs) {
    String key = tensor(input);
    int colon = key.lastIndexOf(':');
    List<NodeOutput> outs = outputs.get(key.substring(0, colon));
    int slot = Integer.parseInt(key.substring(colon + 1));
    if (outs == null) {
      return null;
    }
    for (NodeOutput o : outs) {
      if (o.getSlot() == slot) {
        return o;
      }
    }
    return null;
  }

  private static boolean isGradient(String node) {
    return GRADIENTS.matcher(node).find();
  }

  private static String source(String input) {
    String name = input.startsWith("^") ? input.substring(1) : input;
    int colon = name.lastIndexOf(':');
    return colon > 0 ? name.substring(0, colon) : name;
  }

  /**
   * The model scope of each gradient node. TensorFlow names them {@code Gradients/<Op>_N} without the scope
   * of the op they differentiate, so the scope comes from the graph: a gradient op reads the inputs or
   * outputs of the forward op it differentiates, so it votes for the scopes of the forward consumers of
   * each forward tensor it reads (or of its producer when nothing else reads it); a gradient op that reads
   * no forward tensor (a residual's gradient, say) takes the scope of the gradient ops it reads. A tie goes
   * to the scope later in the forward pass (the tied embedding matrix is read by the embedding and the
   * head; the head's gradient is the one that reads it).
   */
  static Map<String, String> backwardScopes(Map<String, NodeDef> defs) {
    Map<String, List<String>> consumers = new HashMap<>();
    for (NodeDef d : defs.values()) {
      if (!isGradient(d.getName()) && !d.getName().startsWith("opt/")) {
        for (String in : d.getInputList()) {
          if (!in.startsWith("^")) {
            consumers.computeIfAbsent(source(in), k -> new ArrayList<>()).add(d.getName());
          }
        }
      }
    }
    Map<String, String> resolved = new HashMap<>();
    List<NodeDef> pending = new ArrayList<>();
    for (NodeDef d : defs.values()) {
      if (!isGradient(d.getName())) {
        continue;
      }
      Map<String, Integer> votes = new TreeMap<>();
      for (String in : d.getInputList()) {
        String src = source(in);
        if (in.startsWith("^") || isGradient(src)) {
          continue;
        }
        for (String c : consumers.getOrDefault(src, List.of(src))) {
          String where = scope(c).split(" ")[0];
          if (!where.equals("other") && !where.equals("parameters") && !where.equals("optimiser")) {
            votes.merge(where, 1, Integer::sum);
          }
        }
      }
      if (votes.isEmpty()) {
        pending.add(d);
      } else {
        resolved.put(d.getName(), votes.entrySet().stream()
            .max(Map.Entry.<String, Integer>comparingByValue().thenComparing(e -> order(e.getKey())))
            .orElseThrow().getKey());
      }
    }
    for (boolean changed = true; changed && !pending.isEmpty(); ) {
      changed = false;
      for (java.util.Iterator<NodeDef> it = pending.iterator(); it.hasNext(); ) {
        NodeDef d = it.next();
        for (String in : d.getInputList()) {
          String from = resolved.get(source(in));
          if (from != null) {
            resolved.put(d.getName(), from);
            it.remove();
            changed = true;
            break;
          }
        }
      }
    }
    return resolved;
  }

  /** Position of a scope in the forward pass: embedding, the blocks in order, head, loss. */
  private static int order(String where) {
    Matcher m = Pattern.compile("^block(\\d+)/").matcher(where);
    if (m.find()) {
      return 1 + Integer.parseInt(m.group(1));
    }
    return switch (where) {
      case "embedding" -> 0;
      case "head" -> Integer.MAX_VALUE - 1;
      case "loss" -> Integer.MAX_VALUE;
      default -> -1;
    };
  }

  /** The model scope and phase of a node, {@code "scope phase"}, from its name. */
  static String scope(String node) {
    boolean backward = GRADIENTS.matcher(node).find();
    String phase = backward ? "backward" : "forward";
    String where;
    Matcher part = BLOCK_PART.matcher(node);
    Matcher block = BLOCK.matcher(node);
    if (node.startsWith("opt/")) {
      where = "optimiser";
      phase = "update";
    } else if (part.find()) {
      String kind = switch (part.group(2)) {
        case "mix" -> "token-mixer";
        case "ffn" -> "channel-mixer";
        default -> "norms";
      };
      where = "block" + part.group(1) + "/" + kind;
    } else if (block.find()) {
      where = "block" + block.group(1) + "/residual";
    } else if (contains(node, "embedding")) {
      where = "embedding";
    } else if (contains(node, "head")) {
      where = "head";
    } else if (contains(node, "loss")) {
      where = "loss";
    } else if (node.startsWith("model/")) {
      where = "parameters";
    } else {
      where = "other";
    }
    return where + " " + phase;
  }

  private static boolean contains(String node, String scope) {
    return node.startsWith(scope + "/") || node.contains("/" + scope + "/") || node.equals(scope)
        || node.contains("_" + scope + "/");
  }

  public int steps() {
    return steps;
  }

  /** Mean wall time of a traced step, first node start to last node end. */
  public double wallMs() {
    return wallMs;
  }

  /** Mean sum of the kernel times of a traced step. */
  public double kernelMs() {
    return kernelMs;
  }

  public int executedNodes() {
    return executedNodes;
  }

  /** Nodes of the optimised graph that TensorFlow partitioned and ran. */
  public int optimisedNodes() {
    return optimisedNodes;
  }

  /** Per op type, per step. */
  public Map<String, Group> byOp() {
    return byOp;
  }

  /** Per {@code "scope phase"}, per step. */
  public Map<String, Group> byScope() {
    return byScope;
  }

  /**
   * Per forward scope, the megabytes of one step's tensors that the backward pass reads (see
   * {@link #keptForBackward}): the memory a scope holds from its forward pass to the backward pass.
   */
  public Map<String, Double> savedMb() {
    return savedMb;
  }

  /** Megabytes of a step's tensors kept for the backward pass, all scopes. */
  public double totalSavedMb() {
    return savedMb.values().stream().mapToDouble(Double::doubleValue).sum();
  }

  /** Matmul FLOPs of a step, in GFLOP. */
  public double matmulGflop() {
    return byOp.values().stream().mapToDouble(Group::gflop).sum();
  }

  /**
   * CSV: {@code kind,name,phase,nodes,kernel_ms,percent,gflop,gflop_per_s,saved_mb}, all per step: the step,
   * then one row per op type, per scope and per executed node ({@code name} = {@code scope: node = Op shape}),
   * each kind sorted by kernel time. {@code saved_mb} is filled on the forward scope rows and on the step row
   * {@code saved_mb} (whose {@code nodes} counts the tensors): the megabytes kept for the backward pass.
   */
  public String csv(int graphNodes, double untracedStepMs) {
    StringBuilder sb = new StringBuilder("kind,name,phase,nodes,kernel_ms,percent,gflop,gflop_per_s,saved_mb\n");
    double none = Double.NaN;
    row(sb, "step", "wall_ms", "", executedNodes, wallMs, none, none, none, none);
    row(sb, "step", "kernel_ms", "", executedNodes, kernelMs, 100, matmulGflop(), none, none);
    row(sb, "step", "untraced_step_ms", "", executedNodes, untracedStepMs, none, none, none, none);
    row(sb, "step", "graph_nodes", "", graphNodes, none, none, none, none, none);
    row(sb, "step", "optimised_nodes", "", optimisedNodes, none, none, none, none, none);
    row(sb, "step", "saved_mb", "", savedTensors, none, none, none, none, totalSavedMb());
    for (Map.Entry<String, Group> e : sorted(byOp)) {
      Group g = e.getValue();
      row(sb, "op", e.getKey(), "", g.nodes, g.kernelMs, percent(g), g.gflop, g.gflopPerSec(), none);
    }
    for (Map.Entry<String, Group> e : sorted(byScope)) {
      Group g = e.getValue();
      String[] sp = e.getKey().split(" ");
      row(sb, "scope", sp[0], sp[1], g.nodes, g.kernelMs, percent(g), g.gflop, g.gflopPerSec(),
          sp[1].equals("forward") ? savedMb.getOrDefault(sp[0], 0.0) : none);
    }
    for (Map.Entry<String, Group> e : sorted(byNode)) {
      Group g = e.getValue();
      Node node = nodeFacts.get(e.getKey());
      row(sb, "node", node.scope() + ": " + e.getKey() + " = " + node.op() + " " + node.shape(), node.phase(), g.nodes,
          g.kernelMs, percent(g), g.gflop, g.gflopPerSec(), none);
    }
    return sb.toString();
  }

  /** A readable summary: the step, the top op types, every scope and the most expensive nodes. */
  public String summary(int graphNodes, double untracedStepMs, int topOps) {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT,
        "profile of %d traced step(s): wall %.1f ms (untraced median step %.1f ms), kernels %.1f ms (%.0f%% of"
            + " wall), %d nodes executed of %d in the optimised graph (%d built), matmuls %.3f GFLOP at %.1f"
            + " GFLOP/s, %.1f MB in %d tensors kept for the backward pass%n", steps, wallMs, untracedStepMs, kernelMs,
        100 * kernelMs / Math.max(wallMs, 1e-9), executedNodes, optimisedNodes, graphNodes, matmulGflop(),
        matmulGflop() / Math.max(matmulMs() / 1000, 1e-12), totalSavedMb(), savedTensors));
    List<List<String>> ops = new ArrayList<>();
    List<Map.Entry<String, Group>> sortedOps = sorted(byOp);
    for (Map.Entry<String, Group> e : sortedOps.subList(0, Math.min(topOps, sortedOps.size()))) {
      ops.add(cells(e.getKey(), e.getValue()));
    }
    sb.append(Reports.table(List.of("op", "nodes", "kernel_ms", "percent", "gflop_per_s"), ops));
    if (sortedOps.size() > topOps) {
      sb.append(String.format(Locale.ROOT, "(%d more op types in the CSV)%n", sortedOps.size() - topOps));
    }
    sb.append('\n');
    Map<String, double[]> scopes = new LinkedHashMap<>();
    Map<String, int[]> nodes = new LinkedHashMap<>();
    byScope.forEach((k, g) -> {
      String[] sp = k.split(" ");
      int col = switch (sp[1]) {
        case "forward" -> 0;
        case "backward" -> 1;
        default -> 2;
      };
      scopes.computeIfAbsent(sp[0], x -> new double[3])[col] += g.kernelMs;
      nodes.computeIfAbsent(sp[0], x -> new int[1])[0] += g.nodes;
    });
    List<List<String>> rows = new ArrayList<>();
    scopes.forEach((s, v) -> rows.add(List.of(s, Integer.toString(nodes.get(s)[0]), ms(v[0]), ms(v[1]), ms(v[2]),
        ms(v[0] + v[1] + v[2]), pct(100 * (v[0] + v[1] + v[2]) / kernelMs),
        String.format(Locale.ROOT, "%.2f", savedMb.getOrDefault(s, 0.0)))));
    rows.sort(Comparator.comparing((List<String> r) -> r.get(0)));
    sb.append(Reports.table(List.of("scope", "nodes", "forward_ms", "backward_ms", "update_ms", "total_ms", "percent",
        "saved_mb"), rows));
    sb.append('\n');
    List<List<String>> top = new ArrayList<>();
    for (Map.Entry<String, Group> e : sorted(byNode).subList(0, Math.min(TOP_NODES, byNode.size()))) {
      Node node = nodeFacts.get(e.getKey());
      Group g = e.getValue();
      top.add(List.of(node.scope(), node.phase(), e.getKey(), node.op(), node.shape(), ms(g.kernelMs), pct(percent(g)),
          Double.isNaN(g.gflopPerSec()) ? "" : String.format(Locale.ROOT, "%.1f", g.gflopPerSec())));
    }
    sb.append(Reports.table(List.of("scope", "phase", "node", "op", "shape", "kernel_ms", "percent", "gflop_per_s"), top));
    if (byNode.size() > TOP_NODES) {
      sb.append(String.format(Locale.ROOT, "(%d more nodes in the CSV)%n", byNode.size() - TOP_NODES));
    }
    return sb.toString();
  }

  /** Nodes listed in the readable summary, the most expensive first. */
  static final int TOP_NODES = 15;

  private double matmulMs() {
    return byOp.entrySet().stream().filter(e -> e.getValue().gflop > 0).mapToDouble(e -> e.getValue().kernelMs).sum();
  }

  private List<String> cells(String name, Group g) {
    return List.of(name, Integer.toString(g.nodes), ms(g.kernelMs), pct(percent(g)),
        Double.isNaN(g.gflopPerSec()) ? "" : String.format(Locale.ROOT, "%.1f", g.gflopPerSec()));
  }

  private double percent(Group g) {
    return kernelMs > 0 ? 100 * g.kernelMs / kernelMs : 0;
  }

  private static List<Map.Entry<String, Group>> sorted(Map<String, Group> m) {
    List<Map.Entry<String, Group>> l = new ArrayList<>(m.entrySet());
    l.sort(Comparator.comparingDouble((Map.Entry<String, Group> e) -> -e.getValue().kernelMs)
        .thenComparing(Map.Entry::getKey));
    return l;
  }

  private static String ms(double v) {
    return String.format(Locale.ROOT, "%.3f", v);
  }

  private static String pct(double v) {
    return String.format(Locale.ROOT, "%.1f", v);
  }

  private static void row(StringBuilder sb, String kind, String name, String phase, int nodes, double ms,
      double percent, double gflop, double gflopPerSec, double savedMb) {
    sb.append(kind).append(',').append(Reports.cell(name)).append(',').append(phase).append(',').append(nodes)
        .append(',').append(num(ms, 4)).append(',').append(num(percent, 2)).append(',').append(num(gflop, 6))
        .append(',').append(num(gflopPerSec, 2)).append(',').append(num(savedMb, 3)).append('\n');
  }

  private static String num(double v, int decimals) {
    return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%." + decimals + "f", v);
  }
}
