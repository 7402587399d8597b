package dev.leviathan.mml;

/** Every mlgru test again with the recurrence as the chunked scan in graph ops, not the fused kernel. */
class MlgruGraphFormTest extends MlgruMixerTest {
  @Override
  MlgruMixer provider() {
    return new MlgruMixer(true);
  }
}
