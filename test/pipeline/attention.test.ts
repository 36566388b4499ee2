import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { ELISION_MARK } from '../../src/data/clean.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { pictureName } from '../../src/cli/commands/caption.js';
import {
  attentionLayout,
  attentionPicture,
  panelWidthFor,
  upsample,
} from '../../src/pipeline/attention-picture.js';
import type { Captioner, CaptionResult } from '../../src/pipeline/captioner-types.js';
import { loadCaptioner } from '../../src/pipeline/load-captioner.js';
import { normalisedWeights, wordAttention } from '../../src/pipeline/word-attention.js';
import { isCaptionerError } from '../../src/util/errors.js';
import { runCli } from '../helpers/cli.js';
import { makeJpeg } from '../helpers/images.js';
import { makeRandomModel } from '../helpers/random-model.js';
import { tinyAttentionModelDir } from '../helpers/tiny-model.js';
import { DOG_PHOTOS, flickrImages, sharedEncoderPath, SKIP_NO_MODEL } from '../helpers/vision.js';

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Every word of the caption has 49 weights (7×7) that sum to 1, and the words spell the caption. */
function checkAttention(result: CaptionResult) {
  assert.ok(result.attention, 'attention asked for, attention given');
  assert.deepEqual(result.attentionGrid, [7, 7]);
  assert.equal(result.attention.map((a) => a.word).join(' '), result.caption);
  for (const { word, weights } of result.attention) {
    assert.equal(weights.length, 49, word);
    assert.ok(Math.abs(sum(weights) - 1) < 1e-9, `"${word}" weights sum to ${sum(weights)}`);
    for (const w of weights) assert.ok(w >= 0 && w <= 1, `weight ${w}`);
  }
}

test('wordAttention: a word of two tokens ("dog" + "s", "lʼ" + "été") gets the mean of their rows', () => {
  const words = ['a', 'dog', 's', 'ball', `l${ELISION_MARK}`, 'été'];
  const vocabulary = new Vocabulary({
    version: 1,
    minCount: 1,
    tokens: ['<pad>', '<start>', '<end>', '<unk>', ...words],
    counts: [0, 0, 0, 0, ...words.map(() => 1)],
  });
  const tokens = vocabulary.encode(words);
  const onehot = (i: number) => Float32Array.from({ length: 4 }, (_, j) => (j === i ? 1 : 0));
  const rows = [onehot(0), onehot(1), onehot(2), onehot(3), onehot(0), onehot(2)];
  const result = wordAttention(tokens, rows, vocabulary);
  assert.equal(vocabulary.decode(tokens), "a dog's ball l'été");
  assert.deepEqual(result, [
    { word: 'a', weights: [1, 0, 0, 0] },
    { word: "dog's", weights: [0, 0.5, 0.5, 0] },
    { word: 'ball', weights: [0, 0, 0, 1] },
    { word: "l'été", weights: [0.5, 0, 0.5, 0] },
  ]);
  // Rounding keeps the sum at 1.
  const thirds = normalisedWeights([Float32Array.of(1, 1, 1)]);
  assert.deepEqual(thirds.slice(1), [0.333333, 0.333333]);
  assert.equal(sum(thirds), 1);
});

test('upsample: smooth, the peak where the weight is, nothing outside 0..1', () => {
  const weights = new Array<number>(49).fill(0);
  weights[2 * 7 + 5] = 1; // row 2, column 5
  const heat = upsample(weights, [7, 7], 140, 70);
  let best = 0;
  for (let i = 1; i < heat.length; i++) if (heat[i] > heat[best]) best = i;
  const [y, x] = [Math.floor(best / 140), best % 140];
  assert.ok(Math.abs(x - 5.5 * 20) <= 10 && Math.abs(y - 2.5 * 10) <= 5, `peak at ${x}, ${y}`);
  assert.ok(heat.every((v) => v >= 0 && v <= 1));
  // Smooth: neighbouring pixels differ by little.
  for (let i = 1; i < 140; i++) assert.ok(Math.abs(heat[25 * 140 + i] - heat[25 * 140 + i - 1]) < 0.15);
  assert.equal(panelWidthFor(320, 240, 224), 299);
  assert.equal(panelWidthFor(4000, 100, 224), 560, 'very wide photos are squashed to 2.5:1');
});

test('pictureName: from the photo name, never the photo itself, two photos of one name kept apart', () => {
  const used = new Set<string>();
  assert.equal(pictureName('a/dog.jpg', used), 'dog.attention.png');
  assert.equal(pictureName('b/dog.jpg', used), 'dog-2.attention.png');
  assert.equal(pictureName('dog.png', used), 'dog-3.attention.png');
  assert.equal(pictureName('cat.png', used), 'cat.attention.png');
});

describe('attention through the pipeline (tiny random attention model, real encoder)', () => {
  let model = '';
  let skip: string | undefined;
  let captioner: Captioner | undefined;

  before(async () => {
    if (!(await sharedEncoderPath())) {
      skip = SKIP_NO_MODEL;
      return;
    }
    model = await tinyAttentionModelDir({ sharpen: 4 });
    captioner = await loadCaptioner({ model });
  });
  after(async () => captioner?.dispose());

  test('caption({ attention: true }): one 7×7 row per word, summing to 1, in beam and greedy search', async (t) => {
    if (skip) return t.skip(skip);
    assert.equal(captioner!.card.attention, true);
    const photo = join(flickrImages(), DOG_PHOTOS[0]);
    for (const beam of [1, 3]) checkAttention(await captioner!.caption(photo, { beam, attention: true }));
    const plain = await captioner!.caption(photo);
    assert.equal(plain.attention, undefined, 'only when asked');
    const many = await captioner!.captionMany([photo, await makeJpeg(320, 240)], { attention: true });
    for (const r of many) {
      assert.ok('caption' in r);
      checkAttention(r);
    }
  });

  test('the picture: the photo and one panel per word, heat over the photo', async (t) => {
    if (skip) return t.skip(skip);
    const photo = await makeJpeg(320, 240);
    const result = await captioner!.caption(photo, { attention: true });
    const png = await attentionPicture(photo, result.caption, result.attention!, result.attentionGrid!);
    const layout = attentionLayout(1 + result.attention!.length, 299, 224);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, layout.width);
    assert.equal(info.height, layout.height);
    assert.equal(info.channels, 3);
    // Each panel holds the photo (not the white background), the word panels blended with heat.
    const meanOf = (left: number, top: number) => {
      let total = 0;
      for (let y = top; y < top + 224; y += 4)
        for (let x = left; x < left + 299; x += 4) total += data[(y * info.width + x) * 3];
      return total / ((224 / 4) * Math.ceil(299 / 4));
    };
    const photoMean = meanOf(layout.panels[0].left, layout.panels[0].top);
    assert.ok(photoMean < 250, `photo panel red mean ${photoMean}`);
    for (const panel of layout.panels.slice(1)) {
      const m = meanOf(panel.left, panel.top);
      assert.ok(
        m < 250 && Math.abs(m - photoMean) > 2,
        `word panel differs from the photo (${m} vs ${photoMean})`,
      );
    }
  });

  test('captioner caption --attention <dir>: one PNG per photo with a panel per word; --json has the weights', async (t) => {
    if (skip) return t.skip(skip);
    const out = join(await mkdtemp(join(tmpdir(), 'captioner-heat-')), 'pictures');
    const photos = DOG_PHOTOS.slice(0, 2).map((p) => join(flickrImages(), p));
    const run = await runCli(['caption', '--model', model, '--attention', out, '--json', ...photos]);
    assert.equal(run.code, 0, run.stderr);
    const records = JSON.parse(run.stdout) as (CaptionResult & { picture: string })[];
    assert.equal(records.length, 2);
    assert.deepEqual(
      (await readdir(out)).sort(),
      DOG_PHOTOS.slice(0, 2)
        .map((p) => p.replace('.jpg', '.attention.png'))
        .sort(),
    );
    for (const r of records) {
      checkAttention(r);
      const meta = await sharp(await readFile(r.picture)).metadata();
      // Panels 224 px tall and as wide as the photo's shape: one for the photo, one per word.
      const photo = await sharp(photos[records.indexOf(r)]).metadata();
      const layout = attentionLayout(
        1 + r.attention!.length,
        panelWidthFor(photo.width!, photo.height!, 224),
        224,
      );
      assert.equal(meta.width, layout.width, r.picture);
      assert.equal(meta.height, layout.height, r.picture);
      // By hand for this layout: 16 px margins, 12 px gaps, at most 6 panels a row.
      const columns = Math.min(6, 1 + r.attention!.length);
      assert.equal(meta.width, 2 * 16 + columns * layout.panelWidth + (columns - 1) * 12);
      assert.equal(meta.format, 'png');
    }
    // Text output: the captions, and where the pictures went.
    const text = await runCli(['caption', '--model', model, '--attention', out, photos[0]]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stderr, /attention pictures in /);
  });

  test('a model without attention: the library and the command refuse, clearly', async (t) => {
    if (skip) return t.skip(skip);
    const merge = await makeRandomModel();
    const plain = await loadCaptioner({ model: merge });
    try {
      assert.equal(plain.card.attention, undefined);
      await assert.rejects(
        plain.caption(join(flickrImages(), DOG_PHOTOS[0]), { attention: true }),
        (error: unknown) => isCaptionerError(error) && error.code === 'NO_ATTENTION',
      );
    } finally {
      await plain.dispose();
    }
    const out = join(await mkdtemp(join(tmpdir(), 'captioner-heat-')), 'pictures');
    const run = await runCli([
      'caption',
      '--model',
      merge,
      '--attention',
      out,
      join(flickrImages(), DOG_PHOTOS[0]),
    ]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^captioner: error: --attention needs an attention model: .* \(architecture merge\)/,
    );
    assert.equal(run.stdout, '');
    await assert.rejects(readdir(out), 'no folder made');
  });
});
