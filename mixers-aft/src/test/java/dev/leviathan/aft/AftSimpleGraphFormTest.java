package dev.leviathan.aft;

/** Every aft-simple test again with the running sums in graph ops ({@link AftOps#prefixScan}), not the fused scan. */
class AftSimpleGraphFormTest extends AftSimpleMixerTest {
  @Override
  AftSimpleMixer provider() {
    return new AftSimpleMixer(true);
  }
}
