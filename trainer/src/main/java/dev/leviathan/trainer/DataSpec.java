package dev.leviathan.trainer;

/**
 * The training text and how it is tokenised.
 *
 * @param file text file, or {@code null} for the bundled tiny Shakespeare (config key {@code data})
 * @param tokenizer {@code char} (vocabulary = sorted distinct characters) or {@code byte} (256)
 * @param valFraction fraction of the corpus (its end) held out for validation ({@code val-fraction})
 */
public record DataSpec(String file, String tokenizer, double valFraction) {
  public DataSpec {
    if (!"char".equals(tokenizer) && !"byte".equals(tokenizer)) {
      throw new ConfigException("tokenizer must be char or byte, got '" + tokenizer + "'");
    }
    if (!(valFraction > 0 && valFraction < 1)) {
      throw new ConfigException("val-fraction must be between 0 and 1, got " + valFraction);
    }
  }

  public DataSpec withFile(String newFile) {
    return new DataSpec(newFile, tokenizer, valFraction);
  }
}
