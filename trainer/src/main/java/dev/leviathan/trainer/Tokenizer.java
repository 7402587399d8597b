package dev.leviathan.trainer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Maps text to token ids and back. {@code char}: the vocabulary is the sorted distinct characters (UTF-16
 * code units) of the training corpus, stored with the run. {@code byte}: UTF-8 bytes, vocabulary 256, for
 * arbitrary files.
 */
public sealed interface Tokenizer permits Tokenizer.Chars, Tokenizer.Bytes {
  int vocabSize();

  int[] encode(String text);

  String decode(int[] tokens);

  /** {@code char} or {@code byte}. */
  String kind();

  /** The stored vocabulary: the characters for {@code char}, empty for {@code byte}. */
  String vocabulary();

  static Tokenizer of(String kind, String vocabulary) {
    return switch (kind) {
      case "char" -> new Chars(vocabulary);
      case "byte" -> new Bytes();
      default -> throw new ConfigException("tokenizer must be char or byte, got '" + kind + "'");
    };
  }

  /** Builds the character vocabulary of {@code corpus}. */
  static Chars charsOf(String corpus) {
    int[] distinct = corpus.chars().distinct().sorted().toArray();
    StringBuilder sb = new StringBuilder();
    for (int c : distinct) {
      sb.append((char) c);
    }
    return new Chars(sb.toString());
  }

  /** Character-level tokenizer. */
  final class Chars implements Tokenizer {
    private final String vocabulary;
    private final int[] index = new int[Character.MAX_VALUE + 1];

    Chars(String vocabulary) {
      this.vocabulary = vocabulary;
      Arrays.fill(index, -1);
      for (int i = 0; i < vocabulary.length(); i++) {
        index[vocabulary.charAt(i)] = i;
      }
    }

    @Override
    public int vocabSize() {
      return vocabulary.length();
    }

    @Override
    public int[] encode(String text) {
      int[] out = new int[text.length()];
      for (int i = 0; i < out.length; i++) {
        char ch = text.charAt(i);
        int id = index[ch];
        if (id < 0) {
          throw new IllegalArgumentException("the character " + printable(ch) + " at position " + i
              + " is not in the model's vocabulary; use only characters that occur in the training text");
        }
        out[i] = id;
      }
      return out;
    }

    @Override
    public String decode(int[] tokens) {
      StringBuilder sb = new StringBuilder(tokens.length);
      for (int t : tokens) {
        sb.append(vocabulary.charAt(t));
      }
      return sb.toString();
    }

    @Override
    public String kind() {
      return "char";
    }

    @Override
    public String vocabulary() {
      return vocabulary;
    }

    private static String printable(char c) {
      return Character.isISOControl(c) || Character.isWhitespace(c) && c != ' '
          ? String.format("U+%04X", (int) c) : "'" + c + "'";
    }
  }

  /** Byte-level tokenizer (UTF-8). */
  final class Bytes implements Tokenizer {
    @Override
    public int vocabSize() {
      return 256;
    }

    @Override
    public int[] encode(String text) {
      byte[] b = text.getBytes(StandardCharsets.UTF_8);
      int[] out = new int[b.length];
      for (int i = 0; i < b.length; i++) {
        out[i] = b[i] & 0xff;
      }
      return out;
    }

    @Override
    public String decode(int[] tokens) {
      byte[] b = new byte[tokens.length];
      for (int i = 0; i < b.length; i++) {
        b[i] = (byte) tokens[i];
      }
      return new String(b, StandardCharsets.UTF_8);
    }

    @Override
    public String kind() {
      return "byte";
    }

    @Override
    public String vocabulary() {
      return "";
    }
  }
}
