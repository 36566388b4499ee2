import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsensusIndex } from '../../src/decode/consensus.js';
import { Int8Dots } from '../../src/decode/similarity-kernel.js';
import { isCaptionerError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/random.js';

const ENCODER = { name: 'test-encoder', sha256: 'ab'.repeat(32) };

function randomVectors(count: number, dim: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  // Non-negative, like pooled ReLU features.
  return Array.from({ length: count }, () => Float32Array.from({ length: dim }, () => rng.next()));
}

/** A version-1 file (int8 rows, captions in the JSON header), as `captioner consensus` wrote before 4-bit rows. */
function versionOneFile(vectors: Float32Array[], references: string[][]): Uint8Array {
  const dim = vectors[0].length;
  const header = { version: 1, k: 5, weight: 2, encoder: ENCODER, count: vectors.length, dim, references };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const scalesAt = Math.ceil((12 + json.length) / 4) * 4;
  const rowsAt = scalesAt + 4 * vectors.length;
  const bytes = new Uint8Array(rowsAt + vectors.length * dim);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode('CAPCONS1'));
  view.setUint32(8, json.length, true);
  bytes.set(json, 12);
  vectors.forEach((v, r) => {
    const norm = Math.hypot(...v);
    const scale = Math.max(...v.map(Math.abs)) / norm / 127;
    view.setFloat32(scalesAt + 4 * r, scale, true);
    v.forEach((x, d) => view.setInt8(rowsAt + r * dim + d, Math.round(x / norm / scale)));
  });
  return bytes;
}

for (const bits of [8, 4] as const)
  test(`the index (${bits}-bit rows) finds the most similar photos (cosine), survives its file format, and refuses a bad file`, () => {
    const vectors = randomVectors(200, 24, 1);
    const references = vectors.map((_, i) => [`photo ${i} one`, `Photo ${i}  two .`]);
    const index = ConsensusIndex.build({
      vectors,
      references,
      encoder: ENCODER,
      settings: { k: 5, weight: 2 },
      bits,
    });
    assert.equal(index.bits, bits);
    const cosine = (a: Float32Array, b: Float32Array) => {
      let ab = 0;
      let aa = 0;
      let bb = 0;
      for (let i = 0; i < a.length; i++) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
      }
      return ab / Math.sqrt(aa * bb);
    };
    for (const query of randomVectors(10, 24, 2)) {
      const exact = vectors.map((v, row) => ({ row, sim: cosine(v, query) })).sort((a, b) => b.sim - a.sim);
      const found = index.nearest(query);
      assert.equal(found.length, 5);
      // Quantised rows: the same photos, save for near ties (closer with int8; these uniform random
      // vectors, all alike, are harder for 4 bits than pooled features, see quantiseRows).
      const tolerance = bits === 8 ? 2e-3 : 4e-2;
      for (const [i, row] of found.entries())
        assert.ok(
          Math.abs(cosine(vectors[row], query) - exact[i].sim) < tolerance,
          `rank ${i}: ${cosine(vectors[row], query)} against ${exact[i].sim}`,
        );
    }
    // A photo is its own nearest neighbour, at any scale.
    assert.equal(index.nearest(vectors[17].map((x) => x * 3))[0], 17);

    const bytes = index.serialize();
    const again = ConsensusIndex.parse(bytes);
    assert.deepEqual(again.settings, { k: 5, weight: 2 });
    assert.deepEqual(again.encoder, ENCODER);
    assert.deepEqual([again.count, again.dim, again.bits], [200, 24, bits]);
    assert.deepEqual(again.serialize(), bytes);
    // The captions come back exactly (they are stored as word ids): the same consensus.
    const beam = [{ text: 'photo 3 one', score: -1 }];
    assert.deepEqual(again.rerank(vectors[3], beam), index.rerank(vectors[3], beam));
    // From an unaligned copy, and from a Node Buffer in the shared pool (whose `slice` is no copy).
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    assert.deepEqual(
      ConsensusIndex.parse(shifted.subarray(3)).nearest(vectors[5]),
      index.nearest(vectors[5]),
    );
    const pooled = Buffer.from(bytes);
    assert.deepEqual(ConsensusIndex.parse(pooled).nearest(vectors[5]), index.nearest(vectors[5]));

    const refuses = (b: Uint8Array, why: RegExp) =>
      assert.throws(
        () => ConsensusIndex.parse(b, 'x.bin'),
        (e) => isCaptionerError(e) && e.code === 'MODEL_INVALID' && why.test(e.message),
      );
    refuses(new TextEncoder().encode('not an index at all'), /x\.bin .*CAPCONS1/);
    refuses(bytes.subarray(0, bytes.length - 7), /truncated/);
    refuses(bytes.subarray(0, 40), /header/);
    assert.throws(() => index.nearest(new Float32Array(10)), /24-d vectors, the photo's has 10/);
    assert.throws(() => index.withSettings({ k: 0 }), RangeError);
    assert.throws(() => index.withSettings({ weight: -1 }), RangeError);
  });

test('4-bit rows take half the bytes of int8; version-1 and version-2 files still read', () => {
  const vectors = randomVectors(300, 64, 5);
  const references = vectors.map((_, i) => [`a dog number ${i % 7}`, 'two dogs play in the snow']);
  const build = (bits: 4 | 8) =>
    ConsensusIndex.build({ vectors, references, encoder: ENCODER, settings: { k: 5, weight: 2 }, bits });
  const [four, eight] = [build(4).serialize().length, build(8).serialize().length];
  // Half a byte less per value (the headers differ by a few bytes).
  assert.ok(Math.abs(eight - four - (300 * 64) / 2) < 100, `${four} bytes against ${eight}`);

  // Version 2 held the cleaned captions' words, tokenized when read (these captions' words are their
  // coco tokens already): the same header but its version, the same ranking.
  const v3 = build(8).serialize();
  const v2 = v3.slice();
  const at = new TextDecoder().decode(v3).indexOf('"version":3');
  assert.ok(at > 0);
  v2[at + '"version":'.length] = '2'.charCodeAt(0);
  const two = ConsensusIndex.parse(v2);
  assert.deepEqual(
    two.rerank(vectors[3], [{ text: 'a dog number 3', score: -1 }]),
    build(8).rerank(vectors[3], [{ text: 'a dog number 3', score: -1 }]),
  );

  const old = ConsensusIndex.parse(versionOneFile(vectors, references));
  assert.deepEqual([old.count, old.dim, old.bits], [300, 64, 8]);
  for (const q of [0, 42, 299]) assert.deepEqual(old.nearest(vectors[q]), build(8).nearest(vectors[q]));
  const beam = [{ text: 'a dog number 3', score: -1 }];
  assert.deepEqual(old.rerank(vectors[3], beam), build(8).rerank(vectors[3], beam));
});

test('reranking prefers the caption that the similar photos’ captions support, by its weight', () => {
  // Two kinds of photos: dogs on grass near one corner of the space, men in red shirts near another.
  const dog = Float32Array.from([1, 0.1, 0]);
  const man = Float32Array.from([0, 0.1, 1]);
  const jitter = (v: Float32Array, i: number) => v.map((x, d) => x + 0.01 * ((i * 7 + d * 3) % 5));
  const vectors = [...[0, 1, 2, 3].map((i) => jitter(dog, i)), ...[0, 1, 2, 3].map((i) => jitter(man, i))];
  const references = [
    ...[0, 1, 2, 3].map(() => [
      'a dog runs on the grass',
      'a brown dog runs across the grass',
      'the dog is running on grass',
    ]),
    ...[0, 1, 2, 3].map(() => [
      'a man in a red shirt',
      'a man wearing a red shirt stands',
      'the man in red is smiling',
    ]),
  ];
  const index = ConsensusIndex.build({
    vectors,
    references,
    encoder: ENCODER,
    settings: { k: 3, weight: 1 },
  });
  // The model's beam, best first: it likes the man, but the photo is a dog's.
  const beam = [
    { text: 'a man in a red shirt stands', score: -1.0, id: 'man' },
    { text: 'a dog runs on the grass', score: -1.2, id: 'dog' },
  ];
  const ranked = index.rerank(dog, beam);
  assert.deepEqual(
    ranked.map((c) => c.id),
    ['dog', 'man'],
  );
  assert.ok(ranked[0].consensus > 1 && ranked[1].consensus < 0.2, JSON.stringify(ranked));
  // Fields the caller attached come through (attention rows, token ids...).
  assert.equal(ranked[0].score, -1.2);
  // Near the men's photos the same beam keeps its order; with weight 0 the model's order always stands.
  assert.deepEqual(
    index.rerank(man, beam).map((c) => c.id),
    ['man', 'dog'],
  );
  assert.deepEqual(
    index
      .withSettings({ weight: 0 })
      .rerank(dog, beam)
      .map((c) => c.id),
    ['man', 'dog'],
  );
  // A tiny weight is outweighed by the model's score difference.
  assert.deepEqual(
    index
      .withSettings({ weight: 0.01 })
      .rerank(dog, beam)
      .map((c) => c.id),
    ['man', 'dog'],
  );
  assert.deepEqual(index.rerank(dog, []), []);
});

test('the int8 dot-product kernel (WebAssembly SIMD) gives the JS loop’s sums exactly', () => {
  const rows = 37;
  const dim = 48;
  const rng = new Rng(3);
  const int8 = (n: number) => Int8Array.from({ length: n }, () => Math.floor(rng.next() * 255) - 127);
  const vectors = int8(rows * dim);
  // The extremes too: every product at ±127².
  vectors.fill(127, 0, dim);
  vectors.fill(-127, dim, 2 * dim);
  const simd = new Int8Dots(vectors, rows, dim);
  const plain = new Int8Dots(vectors, rows, dim, { simd: false });
  assert.equal(simd.simd, true, 'Node has WebAssembly SIMD');
  assert.equal(plain.simd, false);
  for (let i = 0; i < 5; i++) {
    const query = int8(dim);
    if (i === 0) query.fill(127);
    assert.deepEqual(simd.dots(query), plain.dots(query));
  }
  // A width that is no multiple of 16: the JS loop.
  assert.equal(new Int8Dots(int8(3 * 20), 3, 20).simd, false);
});

test('the BLEU-4 agreement: its own weight, added to CIDEr-D’s, kept by the file, 0 by default', () => {
  const vectors = [Float32Array.from([1, 0.1, 0]), Float32Array.from([1, 0.12, 0.01])];
  const references = [
    ['a dog runs on the grass', 'a brown dog runs on the green grass'],
    ['a dog runs on the grass', 'the dog is running on grass'],
  ];
  const index = ConsensusIndex.build({
    vectors,
    references,
    encoder: ENCODER,
    settings: { k: 2, weight: 0 },
  });
  assert.deepEqual(index.settings, { k: 2, weight: 0 });
  // With no agreement weight the model's order stands; with BLEU's alone the caption that shares the
  // references' 4-grams wins.
  const beam = [
    { text: 'a dog on grass', score: -1.0, id: 'short' },
    { text: 'a dog runs on the grass', score: -1.3, id: 'ngrams' },
  ];
  assert.deepEqual(
    index.rerank(vectors[0], beam).map((c) => c.id),
    ['short', 'ngrams'],
  );
  const withBleu = index.withSettings({ bleuWeight: 2 });
  assert.deepEqual(withBleu.settings, { k: 2, weight: 0, bleuWeight: 2 });
  assert.deepEqual(
    withBleu.rerank(vectors[0], beam).map((c) => c.id),
    ['ngrams', 'short'],
  );
  // The weight survives the file; a negative one is refused.
  const read = ConsensusIndex.parse(withBleu.serialize());
  assert.deepEqual(read.settings, { k: 2, weight: 0, bleuWeight: 2 });
  assert.deepEqual(
    read.rerank(vectors[0], beam).map((c) => c.id),
    ['ngrams', 'short'],
  );
  assert.throws(() => index.withSettings({ bleuWeight: -1 }), RangeError);
});
