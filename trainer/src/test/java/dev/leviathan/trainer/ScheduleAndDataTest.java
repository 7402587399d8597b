package dev.leviathan.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class ScheduleAndDataTest {
  @Test
  void warmupThenCosineToMinimum() {
    LearningRate s = new LearningRate(1e-3, 1e-4, 100, 2000);
    assertEquals(1e-5, s.at(0), 1e-12);
    assertEquals(1e-3, s.at(99), 1e-12);
    assertEquals(1e-3, s.at(100), 1e-12);
    assertEquals((1e-3 + 1e-4) / 2, s.at(1050), 1e-12);
    assertEquals(1e-4, s.at(2000), 1e-12);
    assertEquals(1e-4, s.at(5000), 1e-12);
    assertTrue(s.at(500) > s.at(1500));
  }

  @Test
  void charTokenizerUsesSortedDistinctCharacters() {
    Tokenizer t = Tokenizer.charsOf("hello world");
    assertEquals(" dehlorw", t.vocabulary());
    assertArrayEquals(new int[] {3, 2, 4, 4, 5}, t.encode("hello"));
    assertEquals("world", t.decode(t.encode("world")));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.encode("hez"));
    assertEquals("the character 'z' at position 2 is not in the model's vocabulary; use only characters that occur"
        + " in the training text", e.getMessage());
  }

  @Test
  void byteTokenizerRoundTripsUtf8() {
    Tokenizer t = new Tokenizer.Bytes();
    assertEquals(256, t.vocabSize());
    assertEquals("héllo", t.decode(t.encode("héllo")));
  }

  @Test
  void corpusSplitsNinetyTen() {
    Corpus c = Corpus.of("x", "abcdefghij".repeat(10), "char", null, 0.1, 4);
    assertEquals(90, c.train().length);
    assertEquals(10, c.val().length);
    assertEquals(10, c.tokenizer().vocabSize());
  }

  @Test
  void shortOrEmptyCorpusIsRefused() {
    DataException e = assertThrows(DataException.class, () -> Corpus.of("tiny.txt", "abc", "char", null, 0.1, 64));
    assertTrue(e.getMessage().startsWith("the corpus tiny.txt has 3 tokens, too short for context 64"), e.getMessage());
    e = assertThrows(DataException.class, () -> Corpus.of("empty.txt", "", "char", null, 0.1, 64));
    assertTrue(e.getMessage().startsWith("the corpus empty.txt is empty"), e.getMessage());
  }

  @Test
  void batchesAreWindowsAndTheStreamIsItsPosition() {
    int[] tokens = new int[500];
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = i;
    }
    Batches a = new Batches(tokens, 8, 3, 42, 1);
    int[][] first = a.next();
    for (int b = 0; b < 3; b++) {
      for (int t = 0; t < 8; t++) {
        assertEquals(first[0][b * 8 + t] + 1, first[1][b * 8 + t], "targets are inputs shifted by one");
        if (t > 0) {
          assertEquals(first[0][b * 8 + t - 1] + 1, first[0][b * 8 + t], "contiguous window");
        }
      }
    }
    a.next();
    int[][] third = a.next();
    Batches b = new Batches(tokens, 8, 3, 42, 1);
    b.seek(2);
    assertArrayEquals(third[0], b.next()[0], "seek reproduces the stream");
    assertFalse(Arrays.equals(first[0], new Batches(tokens, 8, 3, 43, 1).next()[0]), "another seed, other data");
  }

  @Test
  void shardsOfAStreamTogetherAreTheBatchOfOneProcessWithTheGlobalBatch() {
    int[] tokens = new int[700];
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = i * 7 % 701;
    }
    int shards = 3;
    int batch = 2;
    int context = 5;
    Batches whole = new Batches(tokens, context, shards * batch, 9, 1);
    Batches[] parts = new Batches[shards];
    for (int k = 0; k < shards; k++) {
      parts[k] = new Batches(tokens, context, batch, 9, 1, k, shards);
    }
    parts[1].seek(2);
    for (int step = 0; step < 4; step++) {
      int[][] w = whole.next();
      for (int k = 0; k < shards; k++) {
        if (k == 1 && step < 2) {
          continue;
        }
        int[][] p = parts[k].next();
        for (int j = 0; j < 2; j++) {
          assertArrayEquals(Arrays.copyOfRange(w[j], k * batch * context, (k + 1) * batch * context), p[j],
              "step " + step + ", shard " + k + (j == 0 ? " inputs" : " targets"));
        }
      }
    }
    assertEquals(4, parts[1].position(), "the position counts global batches");
    assertThrows(IllegalArgumentException.class, () -> new Batches(tokens, context, batch, 9, 1, 3, 3));
  }
}
