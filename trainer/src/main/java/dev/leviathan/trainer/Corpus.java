package dev.leviathan.trainer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * A tokenised text split into training (the first {@code 1 - valFraction}) and validation (the rest)
 * token arrays.
 */
public final class Corpus {
  /** Name shown for the corpus bundled with Leviathan. */
  public static final String BUNDLED = "tiny-shakespeare (bundled)";

  private final String name;
  private final Tokenizer tokenizer;
  private final int[] train;
  private final int[] val;

  private Corpus(String name, Tokenizer tokenizer, int[] train, int[] val) {
    this.name = name;
    this.tokenizer = tokenizer;
    this.train = train;
    this.val = val;
  }

  /** Reads the bundled tiny Shakespeare (public domain). */
  public static String bundledText() {
    try (InputStream in = Corpus.class.getResourceAsStream("tinyshakespeare.txt.gz")) {
      if (in == null) {
        throw new IllegalStateException("the bundled corpus is missing from the trainer jar");
      }
      return new String(new GZIPInputStream(in).readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read the bundled corpus: " + e.getMessage(), e);
    }
  }

  /** Reads a text file (UTF-8 for the char tokenizer; any bytes for the byte tokenizer). */
  public static String readText(Path file, String tokenizer) {
    String limitFix = "use a smaller file, or give Java more heap (LEVIATHAN_JAVA_OPTS=-Xmx<size>; a file takes"
        + " about 12 times its size while it is tokenised)";
    byte[] bytes = InputFiles.read(file, "data file", "--data", InputFiles.dataLimit(), limitFix, DataException::new);
    if ("byte".equals(tokenizer)) {
      return new String(bytes, StandardCharsets.ISO_8859_1);
    }
    try {
      return InputFiles.utf8(bytes);
    } catch (CharacterCodingException e) {
      throw new DataException("data file " + file + " is not UTF-8 text; use --set tokenizer=byte for binary files");
    }
  }

  /**
   * The text {@code data} names (the bundled corpus when it names no file), split for a model of
   * {@code context}; {@code tokenizer} is that of a checkpoint, or {@code null} to build one from the text.
   */
  public static Corpus load(DataSpec data, int context, Tokenizer tokenizer) {
    String text = data.file() == null ? bundledText() : readText(Path.of(data.file()), data.tokenizer());
    String name = data.file() == null ? BUNDLED : data.file();
    return of(name, text, data.tokenizer(), tokenizer, data.valFraction(), context);
  }

  /**
   * Tokenises and splits a text. For {@code byte} the text holds one char per byte (ISO-8859-1 view).
   *
   * @param tokenizer an existing tokenizer (resume, eval) or null to build one from the text
   */
  public static Corpus of(String name, String text, String kind, Tokenizer tokenizer, double valFraction, int context) {
    if (text.isEmpty()) {
      throw new DataException("the corpus " + name + " is empty; give a text file with at least "
          + minLength(context, valFraction) + " characters");
    }
    Tokenizer tok = tokenizer != null ? tokenizer : "byte".equals(kind) ? new Tokenizer.Bytes() : Tokenizer.charsOf(text);
    int[] tokens;
    if ("byte".equals(tok.kind())) {
      tokens = new int[text.length()];
      for (int i = 0; i < tokens.length; i++) {
        tokens[i] = text.charAt(i) & 0xff;
      }
    } else {
      tokens = tok.encode(text);
    }
    int split = (int) Math.round(tokens.length * (1 - valFraction));
    int[] train = Arrays.copyOfRange(tokens, 0, split);
    int[] val = Arrays.copyOfRange(tokens, split, tokens.length);
    if (train.length < context + 1 || val.length < context + 1) {
      throw new DataException("the corpus " + name + " has " + tokens.length + " tokens, too short for context "
          + context + ": both the training and the validation part need at least " + (context + 1)
          + " tokens (at least " + minLength(context, valFraction) + " in all); use a longer text or a smaller"
          + " context (--set context=N)");
    }
    if (tok.vocabSize() < 2) {
      throw new DataException("the corpus " + name + " has only one distinct character; nothing to learn");
    }
    return new Corpus(name, tok, train, val);
  }

  private static long minLength(int context, double valFraction) {
    return (long) Math.ceil((context + 1) / Math.min(valFraction, 1 - valFraction)) + 1;
  }

  public String name() {
    return name;
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }

  public int[] train() {
    return train;
  }

  public int[] val() {
    return val;
  }
}
