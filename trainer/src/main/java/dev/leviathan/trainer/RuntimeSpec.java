package dev.leviathan.trainer;

/**
 * Where and how wide a run executes.
 *
 * @param intraOpThreads threads inside one op; 0 = all cores
 * @param interOpThreads ops run in parallel; 0 = all cores
 * @param device where the model runs ({@code --device}; not a config key)
 */
public record RuntimeSpec(int intraOpThreads, int interOpThreads, Devices.Choice device) {
  public RuntimeSpec {
    Ranges.nonNegative("intra-op-threads", intraOpThreads);
    Ranges.nonNegative("inter-op-threads", interOpThreads);
    device = device == null ? Devices.Choice.AUTO : device;
  }

  public RuntimeSpec withDevice(Devices.Choice newDevice) {
    return new RuntimeSpec(intraOpThreads, interOpThreads, newDevice);
  }
}
