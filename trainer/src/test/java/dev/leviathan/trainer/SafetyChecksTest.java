package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.leviathan.core.registry.MixerRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Non-trainable optimiser values, the finiteness op, the memory estimate and file modes. */
class SafetyChecksTest {
  @TempDir Path dir;

  @Test
  void nonTrainableOptimiserValuesAreRefusedNamingTheKey() throws Exception {
    for (String[] c : new String[][] {{"lr=Infinity", "lr"}, {"lr=NaN", "lr"}, {"lr=1e39", "lr"}, {"min-lr=1e400", "min-lr"},
        {"eps=Infinity", "eps"}, {"eps=1e-50", "eps"}, {"grad-clip=1e400", "grad-clip"}, {"weight-decay=Infinity", "weight-decay"},
        {"beta1=1", "beta1"}, {"beta2=-0.1", "beta2"}, {"beta2=0.99999999999", "beta2"}, {"beta1=NaN", "beta1"}}) {
      Path yaml = dir.resolve("c.yaml");
      Files.writeString(yaml, c[0].replace("=", ": ") + "\n");
      ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(yaml, List.of()), c[0]);
      assertTrue(e.getMessage().startsWith(c[1] + " must be"), c[0] + ": " + e.getMessage());
    }
    ConfigLoader.load(null, List.of("lr=3e38", "min-lr=0", "grad-clip=0", "weight-decay=0", "beta1=0"));
  }

  @Test
  void finiteCheckSeesOneNonFiniteElementInAParameterOrAMoment() throws Exception {
    RunSpec spec = ConfigLoader.load(null, List.of("context=8", "width=8", "layers=1", "batch=2"));
    try (ModelRuntime rt = ModelRuntime.create(spec.resolve(MixerRegistry.discover()).model(5), spec, true)) {
      rt.initialize(1);
      assertTrue(rt.allFinite());
      Map<String, float[]> values = rt.parameters().read(rt.session());
      String name = values.keySet().iterator().next();
      float[] v = values.get(name).clone();
      v[v.length - 1] = Float.POSITIVE_INFINITY;
      rt.parameters().set(rt.session(), Map.of(name, v));
      assertFalse(rt.allFinite(), "an infinite parameter element");
      v[v.length - 1] = Float.NEGATIVE_INFINITY;
      rt.parameters().set(rt.session(), Map.of(name, v));
      assertFalse(rt.allFinite(), "a negative infinite parameter element");
      v[0] = Float.NaN;
      v[v.length - 1] = 0;
      rt.parameters().set(rt.session(), Map.of(name, v));
      assertFalse(rt.allFinite(), "a NaN parameter element");
      // the largest finite values are finite, however many there are
      java.util.Arrays.fill(v, Float.MAX_VALUE);
      rt.parameters().set(rt.session(), Map.of(name, v));
      assertTrue(rt.allFinite(), "parameters at the largest finite float");
      v[0] = -Float.MAX_VALUE;
      v[v.length - 1] = 0;
      rt.parameters().set(rt.session(), Map.of(name, v));
      assertTrue(rt.allFinite());
      // a NaN learning rate makes every parameter and moment NaN after one step
      int[] x = new int[16];
      rt.step(x, x, 2, 0, Double.NaN, 1);
      assertFalse(rt.allFinite());
    }
  }

  @Test
  void memoryEstimateCountsParametersOptimiserActivationsAndContextSquared() {
    RunSpec spec = ConfigLoader.load(null, List.of("context=1024", "width=256", "layers=2", "batch=8",
        "token-mixer-options.heads=4"));
    var m = spec.model().modelConfig(100);
    MemoryEstimate e = MemoryEstimate.of(m, 8);
    long p = 100L * 256 + 1024L * 256 + 2 * (12L * 256 * 256 + 13 * 256);
    assertEquals(p, e.parameters());
    assertEquals(3 * p * 4, e.parameterBytes());
    assertEquals(2 * p * 4, e.optimizerBytes());
    assertEquals((24L * 8 * 1024 * 256 * 2 + 3L * 8 * 1024 * 100) * 4, e.activationBytes());
    assertEquals(3L * 8 * 4 * 1024 * 1024 * 2 * 4, e.quadraticBytes());
    e.requireFits(e.totalBytes(), 8, m);
    ConfigException x = assertThrows(ConfigException.class, () -> e.requireFits(e.totalBytes() - 1, 8, m));
    assertTrue(x.getMessage().contains("batch 8 x context 1024 x width 256 x layers 2"), x.getMessage());
    MemoryEstimate huge = MemoryEstimate.of(m.toBuilder().width(1 << 20).context(1 << 20).build(), 1 << 20);
    assertTrue(huge.totalBytes() > 0, "no overflow: " + huge);
  }

  @Test
  void runFilesGetTheUmaskModeNotTheTemporaryFilesMode() throws Exception {
    Path f = dir.resolve("metrics.csv");
    AtomicFiles.write(f, "x");
    Path plain = dir.resolve("plain");
    Files.writeString(plain, "y");
    Set<PosixFilePermission> expected = Files.getPosixFilePermissions(plain);
    assertEquals(expected, Files.getPosixFilePermissions(f));
    assertTrue(expected.contains(PosixFilePermission.OTHERS_READ) || expected.contains(PosixFilePermission.GROUP_READ),
        "a umask that keeps files readable by others, as in the test environment: " + expected);
  }
}
