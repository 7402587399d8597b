package dev.leviathan.app.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.plugin.PluginLoadResult;
import dev.leviathan.core.plugin.PluginLoader;
import dev.leviathan.trainer.ConfigLoader;
import dev.leviathan.trainer.ModelRuntime;
import dev.leviathan.trainer.RunSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.tensorflow.proto.AllocationDescription;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.GraphDef;
import org.tensorflow.proto.NodeDef;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.NodeOutput;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.StepStats;
import org.tensorflow.proto.TensorDescription;

/** {@link StepProfile} on the real full trace of a tiny attention model's training steps. */
class StepProfileTest {
  static final int B = 2, T = 8, C = 16, H = 2, LAYERS = 2, V = BenchWorker.VOCAB;
  static StepProfile profile;
  static int graphNodes;

  @BeforeAll
  static void trace() {
    try (PluginLoadResult plugins = new PluginLoader(StepProfileTest.class.getClassLoader()).discover(List.of())) {
      RunSpec cfg = ConfigLoader.load(null, List.of("token-mixer=attention", "token-mixer-options={heads: " + H + "}",
          "context=" + T, "width=" + C, "layers=" + LAYERS, "batch=" + B));
      try (ModelRuntime rt = ModelRuntime.create(cfg.resolve(plugins.registry()).model(V), cfg, true)) {
        rt.initialize(1);
        int[] x = new int[B * T];
        int[] y = new int[B * T];
        for (int i = 0; i < x.length; i++) {
          x[i] = (7 * i) % V;
          y[i] = (5 * i + 3) % V;
        }
        rt.step(x, y, B, 0, 1e-3, 1);
        List<RunMetadata> traces = new ArrayList<>();
        for (int s = 1; s <= 2; s++) {
          traces.add(rt.tracedStep(x, y, B, s, 1e-3, 1).metadata());
        }
        profile = StepProfile.of(traces);
        graphNodes = rt.graphNodes();
      }
    }
  }

  /**
   * Every matrix product of the step, counted from the traced shapes: forward per block q/k/v (C x 3C),
   * scores and weighted sum (T x T x C each), output (C x C), the MLP (C x 4C twice), then the tied head
   * (C x V); backward computes two products of the same size for each (input and weight gradients).
   */
  @Test
  void matmulFlopsFromTheTracedShapesMatchTheModel() {
    double bt = B * T;
    // the scores' and weighted sums' products are counted where they are MatMul/BatchMatMul nodes: not inside
    // the fused attention kernel, where it runs
    boolean fused = profile.byOp().containsKey("LeviathanCausalAttention");
    double block = 2 * bt * C * 3 * C + (fused ? 0 : 2 * 2 * B * T * T * (double) C) + 2 * bt * C * C
        + 2 * 2 * bt * C * 4 * C;
    double forward = LAYERS * block + 2 * bt * C * V;
    assertEquals(3 * forward / 1e9, profile.matmulGflop(), 1e-12, profile.csv(graphNodes, 0));
  }

  @Test
  void everyModelScopeIsFoundInForwardBackwardAndUpdate() {
    Set<String> scopes = new TreeSet<>(profile.byScope().keySet());
    for (String s : List.of("embedding forward", "embedding backward", "head forward", "head backward", "loss forward",
        "loss backward", "optimiser update")) {
      assertTrue(scopes.contains(s), s + " in " + scopes);
    }
    for (int i = 0; i < LAYERS; i++) {
      for (String part : List.of("token-mixer", "channel-mixer", "norms")) {
        for (String phase : List.of("forward", "backward")) {
          String s = "block" + i + "/" + part + " " + phase;
          assertTrue(scopes.contains(s), s + " in " + scopes);
        }
      }
    }
    // the model's matmuls all sit in a block's mixers or the head, none in "other"
    double blockFlops = profile.byScope().entrySet().stream()
        .filter(e -> e.getKey().matches("block\\d+/(token|channel)-mixer .*|head .*"))
        .mapToDouble(e -> e.getValue().gflop()).sum();
    assertEquals(profile.matmulGflop(), blockFlops, 1e-12);
    // backward nodes carry no scope in their names; read from the graph, each scope's backward products
    // (input and weight gradients) are twice its forward ones
    for (String s : List.of("block0/token-mixer", "block1/channel-mixer", "head")) {
      double fwd = profile.byScope().get(s + " forward").gflop();
      assertTrue(fwd > 0, s);
      assertEquals(2 * fwd, profile.byScope().get(s + " backward").gflop(), 1e-12, s);
    }
  }

  @Test
  void opAndScopeGroupsPartitionTheExecutedNodes() {
    int opNodes = profile.byOp().values().stream().mapToInt(StepProfile.Group::nodes).sum();
    int scopeNodes = profile.byScope().values().stream().mapToInt(StepProfile.Group::nodes).sum();
    assertEquals(opNodes, scopeNodes);
    assertTrue(opNodes >= profile.executedNodes() && profile.executedNodes() > 100, opNodes + " vs "
        + profile.executedNodes());
    assertTrue(profile.optimisedNodes() >= profile.executedNodes() - 2, "executed nodes come from the optimised graph");
    assertTrue(graphNodes > profile.optimisedNodes() / 2, "built graph " + graphNodes);
    double opMs = profile.byOp().values().stream().mapToDouble(StepProfile.Group::kernelMs).sum();
    assertEquals(profile.kernelMs(), opMs, 1e-9 * Math.max(1, opMs));
    assertTrue(profile.wallMs() > 0 && profile.kernelMs() > 0);
  }

  @Test
  void theCsvHasOneRowPerOpTypeAndScopeWithItsMatmulRate() {
    List<String> lines = profile.csv(graphNodes, 1.5).lines().toList();
    assertEquals("kind,name,phase,nodes,kernel_ms,percent,gflop,gflop_per_s,saved_mb", lines.get(0));
    long ops = lines.stream().filter(l -> l.startsWith("op,")).count();
    long scopes = lines.stream().filter(l -> l.startsWith("scope,")).count();
    assertEquals(profile.byOp().size(), ops);
    assertEquals(profile.byScope().size(), scopes);
    assertTrue(lines.contains("step,untraced_step_ms,," + profile.executedNodes() + ",1.5000,,,,"), lines.toString());
    for (String l : lines) {
      assertEquals(9, l.split(",", -1).length, l);
    }
    Map.Entry<String, StepProfile.Group> mm = profile.byOp().entrySet().stream()
        .filter(e -> StepProfile.isMatmul(e.getKey())).findFirst().orElseThrow();
    assertTrue(mm.getValue().gflop() > 0, mm.toString());
  }

  /**
   * What the backward pass reads is held from the forward pass: at least, per block, the attention weights
   * ({@code [B, H, T, T]}, read by the product with the values' gradient) and the MLP's hidden pre-activation
   * ({@code [B*T, 4C]}, read by GELU's gradient), and the weight matrices read for the input gradients; at most,
   * a few tensors of those sizes per block plus the parameters.
   */
  @Test
  void theTensorsKeptForTheBackwardPassAreCountedPerScope() {
    Map<String, Double> saved = profile.savedMb();
    double attention = B * H * T * T * 4 / 1e6;
    double hidden = B * T * 4 * C * 4 / 1e6;
    // the weights are read inside their block's scope
    double mixerWeights = (C * 3 * C + C * C) * 4 / 1e6;
    double mlpWeights = 2 * C * 4 * C * 4 / 1e6;
    for (int i = 0; i < LAYERS; i++) {
      assertTrue(saved.getOrDefault("block" + i + "/token-mixer", 0.0) >= attention + mixerWeights, saved.toString());
      assertTrue(saved.getOrDefault("block" + i + "/channel-mixer", 0.0) >= hidden + mlpWeights, saved.toString());
    }
    double weights = LAYERS * (mixerWeights + mlpWeights);
    double total = saved.values().stream().mapToDouble(Double::doubleValue).sum();
    assertEquals(total, profile.totalSavedMb(), 1e-12);
    // an upper bound: every tensor of a forward block at most a few times [B, T, 4C] or [B, H, T, T]
    assertTrue(total < LAYERS * 20 * (hidden + attention) + weights * 2 + V * C * 4 / 1e6 * 2, saved.toString());
    List<String> lines = profile.csv(graphNodes, 1.5).lines().toList();
    String[] step = lines.stream().filter(l -> l.startsWith("step,saved_mb,")).findFirst().orElseThrow().split(",", -1);
    assertEquals(total, Double.parseDouble(step[8]), 1e-3);
    for (String l : lines.stream().filter(l -> l.startsWith("scope,")).toList()) {
      String[] r = l.split(",", -1);
      assertEquals(r[2].equals("forward"), !r[8].isEmpty(), l);
    }
  }

  /**
   * A gradient node that reads only a tensor's shape runs as soon as the tensor exists and keeps nothing of
   * it, so that tensor is not kept for the backward pass; one that reads its data keeps it. Two forward
   * tensors of a block's token mixer: A (4 MB) is read by a gradient {@code Shape} and {@code ShapeN} only,
   * B (1 MB) also by a gradient {@code Mul}, and C (2 MB) is a view of B (same address): B counts once.
   */
  @Test
  void tensorsReadOnlyForTheirShapeAreNotKeptForTheBackwardPass() {
    GraphDef.Builder g = GraphDef.newBuilder();
    StepStats.Builder stats = StepStats.newBuilder();
    DeviceStepStats.Builder dev = DeviceStepStats.newBuilder().setDevice("/cpu:0");
    Object[][] nodes = {
        {"block0/mix/A", "Exp", new String[0], 4_000_000L, 0x1000L},
        {"block0/mix/B", "Mul", new String[0], 1_000_000L, 0x2000L},
        {"block0/mix/C", "Reshape", new String[] {"block0/mix/B"}, 1_000_000L, 0x2000L},
        {"Gradients/Shape_1", "Shape", new String[] {"block0/mix/A"}, 16L, 0x3000L},
        {"Gradients/ShapeN_2", "ShapeN", new String[] {"block0/mix/A", "block0/mix/B"}, 16L, 0x4000L},
        {"Gradients/Mul_3", "Mul", new String[] {"block0/mix/C", "Gradients/Shape_1"}, 1_000_000L, 0x5000L},
    };
    for (Object[] n : nodes) {
      g.addNode(NodeDef.newBuilder().setName((String) n[0]).setOp((String) n[1])
          .addAllInput(List.of((String[]) n[2])));
      dev.addNodeStats(NodeExecStats.newBuilder().setNodeName((String) n[0]).setAllStartNanos(1).setAllEndRelNanos(1)
          .addOutput(NodeOutput.newBuilder().setSlot(0).setTensorDescription(TensorDescription.newBuilder()
              .setAllocationDescription(AllocationDescription.newBuilder()
                  .setAllocatedBytes((Long) n[3]).setPtr((Long) n[4])))));
    }
    RunMetadata md = RunMetadata.newBuilder().addPartitionGraphs(g).setStepStats(stats.addDevStats(dev)).build();
    StepProfile p = StepProfile.of(List.of(md));
    assertEquals(Map.of("block0/token-mixer", 1.0), p.savedMb());
    assertTrue(p.csv(nodes.length, 1).lines().anyMatch(l -> l.equals("step,saved_mb,,1,,,,,1.000")),
        p.csv(nodes.length, 1));
  }

  @Test
  void theCsvHasOneRowPerExecutedNodeWithItsScopeOpAndShape() {
    List<String[]> nodes = profile.csv(graphNodes, 1.5).lines().filter(l -> l.startsWith("node,"))
        .map(l -> l.split(",", -1)).toList();
    assertEquals(profile.executedNodes(), nodes.size());
    double ms = nodes.stream().mapToDouble(r -> Double.parseDouble(r[4])).sum();
    // each row rounds to 1e-4 ms
    assertEquals(profile.kernelMs(), ms, 1e-4 * nodes.size());
    for (int i = 1; i < nodes.size(); i++) {
      assertTrue(Double.parseDouble(nodes.get(i - 1)[4]) >= Double.parseDouble(nodes.get(i)[4]), "sorted by time");
    }
    String[] matmul = nodes.stream().filter(r -> r[1].startsWith("block0/channel-mixer: ") && r[1].contains("MatMul")
        && r[2].equals("forward")).findFirst().orElseThrow();
    assertTrue(matmul[1].matches("block0/channel-mixer: \\S+ = \\S*MatMul\\S* \\d+x\\d+"), matmul[1]);
    assertTrue(Double.parseDouble(matmul[6]) > 0, String.join(",", matmul));
  }

  @Test
  void theSummaryListsTheMostExpensiveNodesFirst() {
    String text = profile.summary(graphNodes, 1.5, 10);
    List<String> lines = text.lines().toList();
    int header = lines.indexOf(lines.stream().filter(l -> l.startsWith("scope") && l.contains("node") && l.contains("shape"))
        .findFirst().orElseThrow(() -> new AssertionError(text)));
    List<String[]> csvNodes = profile.csv(graphNodes, 1.5).lines().filter(l -> l.startsWith("node,"))
        .map(l -> l.split(",", -1)).toList();
    for (int i = 0; i < StepProfile.TOP_NODES; i++) {
      String row = lines.get(header + 1 + i);
      String name = csvNodes.get(i)[1];
      // the CSV's name is "scope: node = Op shape"; the table has the same node on the same rank
      String node = name.substring(name.indexOf(": ") + 2, name.indexOf(" = "));
      assertTrue(row.contains(" " + node + " "), row + " vs " + name);
    }
    assertTrue(lines.get(header + 1 + StepProfile.TOP_NODES).matches("\\(\\d+ more nodes in the CSV\\)"), text);
  }

  @Test
  void scopesAreReadFromNodeNames() {
    assertEquals("block3/token-mixer forward", StepProfile.scope("block3/mix/MatMul"));
    assertEquals("block3/token-mixer backward", StepProfile.scope("gradients/block3/mix/MatMul_grad/MatMul_1"));
    assertEquals("block0/norms forward", StepProfile.scope("block0/norm2/Mean"));
    assertEquals("block0/norms forward", StepProfile.scope("block0_1/norm2/Mean_1"));
    assertEquals("block1/channel-mixer backward", StepProfile.scope("Gradients_1/block1/ffn/Erf_grad/Exp"));
    assertEquals("block1/residual forward", StepProfile.scope("block1/Add_1"));
    assertEquals("optimiser update", StepProfile.scope("opt/model.wte/ApplyAdam"));
    assertEquals("loss backward", StepProfile.scope("gradients/loss/SparseSoftmaxCrossEntropyWithLogits_grad/mul"));
    assertEquals("other forward", StepProfile.scope("inputs"));
    assertEquals("embedding forward", StepProfile.scope("embedding/GatherV2"));
    assertEquals("head forward", StepProfile.scope("head/norm/Rsqrt"));
  }
}
