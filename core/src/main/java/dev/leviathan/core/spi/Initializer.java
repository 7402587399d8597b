package dev.leviathan.core.spi;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Fills a parameter's initial values (row-major). Each parameter gets its own random stream derived
 * from the run seed and the parameter's name, so adding a parameter never shifts the others.
 */
@FunctionalInterface
public interface Initializer {
  /** Standard deviation of GPT-2's initialisation of matrices and embeddings. */
  double GPT2_STD = 0.02;

  void fill(float[] values, long[] shape, SplittableRandom random);

  static Initializer zeros() {
    return constant(0f);
  }

  static Initializer ones() {
    return constant(1f);
  }

  static Initializer constant(float value) {
    return (values, shape, random) -> Arrays.fill(values, value);
  }

  /** Normal distribution N(0, std^2) (Box-Muller on the parameter's own stream). */
  static Initializer normal(double std) {
    return (values, shape, random) -> {
      for (int i = 0; i < values.length; i += 2) {
        double u1 = 1.0 - random.nextDouble();
        double u2 = random.nextDouble();
        double r = Math.sqrt(-2.0 * Math.log(u1));
        values[i] = (float) (std * r * Math.cos(2 * Math.PI * u2));
        if (i + 1 < values.length) {
          values[i + 1] = (float) (std * r * Math.sin(2 * Math.PI * u2));
        }
      }
    };
  }

  /** Uniform distribution on [low, high). */
  static Initializer uniform(double low, double high) {
    return (values, shape, random) -> {
      for (int i = 0; i < values.length; i++) {
        values[i] = (float) (low + (high - low) * random.nextDouble());
      }
    };
  }
}
