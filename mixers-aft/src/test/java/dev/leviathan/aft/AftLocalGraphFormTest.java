package dev.leviathan.aft;

/** Every aft-local test again with the dense form in graph ops ({@link DyadicMix}), not the fused kernel. */
class AftLocalGraphFormTest extends AftLocalMixerTest {
  @Override
  AftLocalMixer.Form form() {
    return AftLocalMixer.Form.DENSE;
  }
}
