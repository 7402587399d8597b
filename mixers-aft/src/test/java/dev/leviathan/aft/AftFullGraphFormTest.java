package dev.leviathan.aft;

/** Every aft-full test again with the sums in graph ops ({@link DyadicMix}), not the fused kernel. */
class AftFullGraphFormTest extends AftFullMixerTest {
  @Override
  AftFullMixer provider() {
    return new AftFullMixer(true);
  }
}
