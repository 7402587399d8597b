package dev.leviathan.mml;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

/**
 * The fused recurrence loads wherever the build compiled it. What it computes is tested through mlgru:
 * {@link MlgruMixerTest} runs on it (loop references at extreme gates, causality bit for bit, finite
 * differences, generation), {@link MlgruGraphFormTest} the same tests on the chunked scan.
 */
class NativeMmlTest {
  @Test
  void isLoadedWhereTheBuildCompiledIt() {
    assumeTrue(NativeMml.class.getResource(NativeMml.RESOURCE) != null, "the build compiled no fused kernel (no gcc)");
    assertTrue(NativeMml.loaded(), "fused mlgru kernel not loaded: " + NativeMml.availability().reason());
  }
}
