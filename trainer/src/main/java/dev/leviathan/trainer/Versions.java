package dev.leviathan.trainer;

/** Version of Leviathan as recorded in run records and checkpoints. */
public final class Versions {
  private Versions() {}

  public static String leviathan() {
    String v = Versions.class.getPackage().getImplementationVersion();
    return v == null ? "0.1.0-SNAPSHOT" : v;
  }
}
