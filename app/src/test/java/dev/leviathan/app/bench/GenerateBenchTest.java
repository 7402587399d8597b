package dev.leviathan.app.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code leviathan bench --generate} end to end, one worker JVM per mixer. */
class GenerateBenchTest {
  @TempDir Path work;

  @Test
  void writesOneRowPerMixerAndPositionAndStopsMixersAtTheirLimit() throws Exception {
    CliRun r = CliRun.run(work, "bench", "--generate", "--mixers", "mlgru,aft-full", "--positions", "32,8",
        "--generate-context", "16", "--width", "16", "--layers", "1", "--out", "g/gen.csv");
    assertEquals(0, r.code(), r.toString());
    List<String> lines = Files.readAllLines(work.resolve("g/gen.csv"));
    assertEquals(GenerateBench.HEADER, lines.get(0));
    assertEquals("mixer,position,batch,width,layers,context,path,tokens_per_sec,rss_mb,rss_growth_mb,status",
        lines.get(0));
    assertEquals(5, lines.size(), lines.toString());
    boolean proc = Files.exists(Path.of("/proc/self/status"));
    String[][] rows = lines.stream().skip(1).map(l -> l.split(",", -1)).toArray(String[][]::new);
    for (int i = 0; i < 4; i++) {
      String mixer = i < 2 ? "mlgru" : "aft-full";
      String position = i % 2 == 0 ? "8" : "32";
      assertEquals(List.of(mixer, position, "1", "16", "1", "16"), Arrays.asList(rows[i]).subList(0, 6), lines.get(i + 1));
      assertTrue(List.of("step", "recompute").contains(rows[i][6]), lines.get(i + 1));
    }
    // mlgru carries a constant state: it passes the context of 16.
    assertEquals("step", rows[0][6]);
    for (String[] row : new String[][] {rows[0], rows[1], rows[2]}) {
      assertEquals("ok", row[10], String.join(",", row));
      assertTrue(Double.parseDouble(row[7]) > 0, "tokens/s " + String.join(",", row));
      if (proc) {
        double rss = Double.parseDouble(row[8]);
        assertTrue(rss > 10 && rss < 8192, "resident memory " + rss + " MB");
        assertTrue(Math.abs(Double.parseDouble(row[9])) < rss, String.join(",", row));
      }
    }
    // aft-full's position bias is context x context: position 32 is past its limit.
    assertEquals(List.of("", "", "", "limit"), Arrays.asList(rows[3]).subList(7, 11), lines.get(4));

    byte[] png = Files.readAllBytes(work.resolve("g/gen.png"));
    assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(png, 4));
    assertTrue(r.out().contains("[1/2] mlgru ... 8: "), r.out());
    assertTrue(r.out().contains("wrote "), r.out());
  }

  @Test
  void badPositionsFailBeforeAnyWorkerStarts() {
    CliRun r = CliRun.run(work, "bench", "--generate", "--positions", "1,8", "--out", "p/gen.csv");
    assertEquals(2, r.code(), r.toString());
    assertTrue(r.err().startsWith("error: --positions needs positions >= 2"), r.err());
    assertFalse(Files.exists(work.resolve("p")), "nothing written");
  }
}
