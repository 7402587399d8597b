package dev.leviathan.attention;

/** Every attention test again on the graph form (batched products, mask, softmax), not the fused kernel. */
class AttentionGraphFormTest extends AttentionMixerTest {
  @Override
  AttentionMixer provider() {
    return new AttentionMixer(true);
  }
}
