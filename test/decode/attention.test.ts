import assert from 'node:assert/strict';
import { test } from 'node:test';
import { START } from '../../src/data/vocabulary.js';
import { beamSearch } from '../../src/decode/beam-search.js';
import type { DecoderState, StepDecoder, StepResult } from '../../src/model/step-decoder.js';
import { images, ToyDecoder, toyVocabulary, type Table } from '../helpers/toy-decoder.js';

const REGIONS = 5;

/** The weights a row looks with, from the tokens it was fed so far (START included): distinct per history. */
function weightsOf(history: readonly number[]): Float32Array {
  const code = history.reduce((h, t) => (h * 7 + t) % 1009, 0);
  const row = Float32Array.from({ length: REGIONS }, (_, j) => 1 + ((code + j * 3) % 11));
  const sum = row.reduce((a, b) => a + b, 0);
  return row.map((v) => v / sum);
}

interface HistoryState extends DecoderState {
  inner: DecoderState;
  histories: number[][];
}

/**
 * The toy decoder with attention: each row's weights depend on every token that row was fed, so a
 * hypothesis that kept another's weights (wrong parent after reordering) shows. The weights come in one
 * buffer reused at every step, as a runtime may do: the search must copy them.
 */
class AttentionToyDecoder implements StepDecoder {
  readonly vocabSize: number;
  private readonly buffer = new Float32Array(64 * REGIONS);

  constructor(private readonly inner: ToyDecoder) {
    this.vocabSize = inner.vocabSize;
  }

  async start(images: Float32Array[]): Promise<HistoryState> {
    const inner = await this.inner.start(images);
    return { rows: inner.rows, inner, histories: images.map(() => []) };
  }

  async step(state: DecoderState, tokens: Int32Array): Promise<StepResult> {
    const s = state as HistoryState;
    const out = await this.inner.step(s.inner, tokens);
    const histories = s.histories.map((h, r) => [...h, tokens[r]]);
    const attention = this.buffer.subarray(0, s.rows * REGIONS);
    histories.forEach((h, r) => attention.set(weightsOf(h), r * REGIONS));
    const next: HistoryState = { rows: s.rows, inner: out.state, histories };
    return { logProbs: out.logProbs, state: next, attention };
  }

  select(state: DecoderState, rows: Int32Array): HistoryState {
    const s = state as HistoryState;
    return {
      rows: rows.length,
      inner: this.inner.select(s.inner, rows),
      histories: Array.from(rows, (r) => s.histories[r]),
    };
  }

  dispose(): void {}
}

// Beams that swap places: after "a"/"the", the best extensions come from the second beam first.
const TABLE: Table = {
  '<start>': { a: 0.5, the: 0.4, big: 0.1 },
  a: { dog: 0.3, cat: 0.3, big: 0.4 },
  the: { dog: 0.6, cat: 0.3, big: 0.1 },
  big: { dog: 0.5, cat: 0.5 },
  dog: { runs: 0.6, '<end>': 0.4 },
  cat: { runs: 0.3, '<end>': 0.7 },
  runs: { '<end>': 1 },
};

test('attention: every caption keeps the weights of each of its words, through beam reordering', async () => {
  for (const beam of [1, 2, 3, 5]) {
    const decoder = new AttentionToyDecoder(new ToyDecoder([TABLE, TABLE]));
    const results = await beamSearch(decoder, images(0, 1), toyVocabulary, { beam, maxLength: 6 });
    assert.equal(results.length, 2);
    for (const captions of results) {
      assert.ok(captions.length >= 1);
      for (const c of captions) {
        assert.ok(c.attention, `beam ${beam}: "${c.text}" has attention`);
        assert.equal(c.attention.length, c.tokens.length, `beam ${beam}: one row per word of "${c.text}"`);
        c.attention.forEach((row, i) => {
          // Word i was chosen at the step fed START and the words before it.
          const expected = weightsOf([START, ...c.tokens.slice(0, i)]);
          assert.deepEqual([...row], [...expected], `beam ${beam}: "${c.text}", word ${i}`);
          assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
        });
      }
    }
  }
});

test('attention: a decoder without attention gives captions without it', async () => {
  for (const beam of [1, 3]) {
    const [captions] = await beamSearch(new ToyDecoder([TABLE]), images(0), toyVocabulary, { beam });
    for (const c of captions) assert.equal('attention' in c, false);
  }
});
