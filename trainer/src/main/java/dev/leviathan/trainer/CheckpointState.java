package dev.leviathan.trainer;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.util.List;

/**
 * What a checkpoint records beside the variables: progress, data stream position, the resolved config,
 * the vocabulary and which provider built each layer.
 */
@JsonIgnoreProperties(ignoreUnknown = false)
public record CheckpointState(
    int format,
    long step,
    double bestValLoss,
    long trainBatches,
    String config,
    String tokenizer,
    String vocabulary,
    List<LayerMixer> mixers,
    String leviathanVersion,
    String tensorflowVersion,
    String savedAt) {

  public static final int FORMAT = 1;

  /** The provider that built one layer's mixer. */
  public record LayerMixer(int layer, String role, String mixer, String version, String source, java.util.Map<String, String> options) {}
}
