/**
 * Bootstrap intervals of BLEU-4 and CIDEr-D over a split's photos, and the paired comparison of two
 * caption sets: on synthetic captions whose answer is known, and through `captioner score`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bleuCounts, bleuOfCounts, corpusBleu, sumBleuCounts } from '../../src/eval/bleu.js';
import { bootstrapScores, imageStats, pairedBootstrap } from '../../src/eval/bootstrap.js';
import { scoreTokenized } from '../../src/eval/score.js';
import { Rng } from '../../src/util/random.js';
import { runCli } from '../helpers/cli.js';
import { makeFlickrFixture, tokenLines } from '../helpers/flickr-fixture.js';

const WORDS = ['a', 'dog', 'man', 'runs', 'on', 'the', 'grass', 'in', 'red', 'shirt', 'water', 'jumps'];

/**
 * n photos, each with 4 references that vary one sentence of its own (a fifth of the words replaced at
 * random); a "good" caption varies it the same way, a "poor" one is the same two words everywhere.
 */
function synthetic(n: number, seed = 3) {
  const rng = new Rng(seed);
  const word = () => WORDS[Math.floor(rng.next() * WORDS.length)];
  const vary = (base: string[]) => base.map((w) => (rng.next() < 0.2 ? word() : w));
  const bases = Array.from({ length: n }, () => Array.from({ length: 6 + Math.floor(rng.next() * 4) }, word));
  const references = bases.map((base) => Array.from({ length: 4 }, () => vary(base)));
  const good = bases.map(vary);
  const poor = bases.map(() => ['a', 'dog']);
  return { references, good, poor };
}

test('per-image BLEU counts add up to corpus BLEU', () => {
  const { references, good } = synthetic(40);
  const summed = bleuOfCounts(sumBleuCounts(good.map((c, i) => bleuCounts(c, references[i]))));
  assert.deepEqual(summed, corpusBleu(good, references).scores);
});

test('bootstrapScores: the whole set scores as coco-caption does, inside an interval that narrows with more photos', () => {
  const small = synthetic(50);
  const big = synthetic(800);
  const spreadOf = (s: ReturnType<typeof synthetic>) =>
    bootstrapScores(imageStats(s.good, s.references), { draws: 200, seed: 5 });
  const a = spreadOf(small);
  const whole = scoreTokenized(small.good, small.references);
  assert.ok(Math.abs(a.bleu4.score - whole.bleu4) < 1e-12);
  assert.ok(Math.abs(a.ciderD.score - whole.ciderD) < 1e-12);
  for (const m of ['bleu4', 'ciderD'] as const) {
    assert.ok(a[m].interval.low < a[m].score && a[m].score < a[m].interval.high, `${m} inside its interval`);
    const b = spreadOf(big)[m];
    assert.ok(
      b.interval.high - b.interval.low < (a[m].interval.high - a[m].interval.low) / 2,
      `${m}: 16× the photos, well under half the width`,
    );
  }
  // The same seed, the same draws.
  assert.deepEqual(spreadOf(small), a);
});

test('pairedBootstrap: a set against itself differs by nothing; a clearly better set wins every draw', () => {
  const { references, good, poor } = synthetic(200);
  const goodStats = imageStats(good, references);
  const self = pairedBootstrap(goodStats, goodStats, { draws: 100 });
  for (const m of ['bleu4', 'ciderD'] as const) {
    assert.deepEqual(self[m].difference.interval, { low: 0, high: 0 });
    assert.equal(self[m].better, 0);
  }
  const versus = pairedBootstrap(goodStats, imageStats(poor, references), { draws: 100 });
  for (const m of ['bleu4', 'ciderD'] as const) {
    assert.ok(versus[m].difference.interval.low > 0, `${m}: the difference's interval is above zero`);
    assert.equal(versus[m].better, 1);
    assert.ok(
      Math.abs(versus[m].difference.score - (versus[m].candidate.score - versus[m].baseline.score)) < 1e-12,
    );
  }
  assert.throws(() => pairedBootstrap(goodStats, goodStats.slice(1)), /200 photos against 199/);
  assert.throws(() => bootstrapScores(goodStats, { level: 1 }), /level/);
});

test('captioner score --intervals and --baseline', async () => {
  const images = ['1.jpg', '2.jpg', '3.jpg', '4.jpg'];
  const data = await makeFlickrFixture({
    captionLines: [
      ...tokenLines('1.jpg', ['A dog runs on the grass .', 'A brown dog runs on grass .']),
      ...tokenLines('2.jpg', ['A cat sleeps on a mat .', 'A kitten naps on a mat .']),
      ...tokenLines('3.jpg', ['Two birds fly in the sky .', 'Birds in the blue sky .']),
      ...tokenLines('4.jpg', ['A man rides a red bike .', 'A man on a red bicycle .']),
    ],
    splits: { train: [], dev: images, test: [] },
    images,
  });
  const dir = await mkdtemp(join(tmpdir(), 'captioner-bootstrap-'));
  const write = async (name: string, captions: string[]) => {
    const file = join(dir, name);
    await writeFile(file, JSON.stringify(images.map((image, i) => ({ image, caption: captions[i] }))));
    return file;
  };
  const good = await write('good.json', [
    'a dog runs on the grass',
    'a cat sleeps on a mat',
    'birds fly in the sky',
    'a man rides a red bike',
  ]);
  const poor = await write('poor.json', ['a dog', 'a dog', 'a dog', 'a dog']);
  const base = ['score', '--data', data, '--split', 'dev', '--draws', '50'];
  const intervals = await runCli([...base, '--captions', good, '--intervals', '--json']);
  assert.equal(intervals.code, 0, intervals.stderr);
  const spread = JSON.parse(intervals.stdout).bootstrap;
  assert.equal(spread.draws, 50);
  assert.ok(
    spread.ciderD.interval.low <= spread.ciderD.score && spread.ciderD.score <= spread.ciderD.interval.high,
  );

  const compared = await runCli([...base, '--captions', good, '--baseline', poor]);
  assert.equal(compared.code, 0, compared.stderr);
  assert.match(compared.stdout, /against the baseline .*poor\.json \(the same 4 photos/);
  assert.match(compared.stdout, /CIDEr-D\s+\+\d+\.\d .*higher in 100% of the draws/);

  const json = JSON.parse((await runCli([...base, '--captions', good, '--baseline', poor, '--json'])).stdout);
  assert.equal(json.bootstrap.photos, 4);
  assert.ok(json.bootstrap.bleu4.difference.score > 0);

  const wrong = await runCli(['score', '--human', '1', '--intervals', '--data', data, '--split', 'dev']);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /go with --captions/);
  const few = await runCli([
    'score',
    '--data',
    data,
    '--split',
    'dev',
    '--captions',
    good,
    '--intervals',
    '--draws',
    '5',
  ]);
  assert.equal(few.code, 1);
  assert.match(few.stderr, /--draws: at least 10/);
});
