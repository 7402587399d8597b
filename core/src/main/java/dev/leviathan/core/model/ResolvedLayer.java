package dev.leviathan.core.model;

import dev.leviathan.core.registry.GuardedMixers;
import dev.leviathan.core.registry.MixerRegistry;
import dev.leviathan.core.registry.ProviderInfo;
import dev.leviathan.core.spi.ChannelMixerProvider;
import dev.leviathan.core.spi.MixerOptions;
import dev.leviathan.core.spi.TokenMixerProvider;
import java.util.ArrayList;
import java.util.List;

/**
 * One block's mixers as the model builds them: the registered token and channel mixer providers (with
 * their origin) and their options resolved against the providers' option specs (defaults filled in,
 * values checked).
 */
public record ResolvedLayer(int index, ProviderInfo tokenMixer, MixerOptions tokenOptions, ProviderInfo channelMixer,
    MixerOptions channelOptions) {

  /** The token mixer's provider, every call into it guarded ({@link GuardedMixers}). */
  public TokenMixerProvider tokenProvider() {
    return GuardedMixers.token(tokenMixer);
  }

  /** The channel mixer's provider, every call into it guarded ({@link GuardedMixers}). */
  public ChannelMixerProvider channelProvider() {
    return GuardedMixers.channel(channelMixer);
  }

  /** Whether both mixers are causal. */
  public boolean causal() {
    return tokenProvider().causal() && channelProvider().causal();
  }

  /**
   * Looks up one entry of {@code token} and {@code channel} per layer (equal lengths) in {@code registry}.
   *
   * @throws dev.leviathan.core.registry.RegistryException for an unknown mixer name
   * @throws dev.leviathan.core.spi.InvalidMixerOptionException for a bad mixer option
   */
  public static List<ResolvedLayer> resolve(List<MixerSpec> token, List<MixerSpec> channel, MixerRegistry registry) {
    if (token.size() != channel.size()) {
      throw new IllegalArgumentException("token mixers for " + token.size() + " layers but channel mixers for "
          + channel.size());
    }
    List<ResolvedLayer> out = new ArrayList<>();
    for (int i = 0; i < token.size(); i++) {
      ProviderInfo t = registry.tokenMixerInfo(token.get(i).name());
      ProviderInfo c = registry.channelMixerInfo(channel.get(i).name());
      out.add(new ResolvedLayer(i, t, MixerOptions.resolve(GuardedMixers.of(t), token.get(i).options()), c,
          MixerOptions.resolve(GuardedMixers.of(c), channel.get(i).options())));
    }
    return List.copyOf(out);
  }
}
