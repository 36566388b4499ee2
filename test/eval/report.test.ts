import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildReportData, EXTREMES_SHOWN, renderReport, type ReportInput } from '../../src/eval/report.js';
import { makeThumbnails } from '../../src/eval/report-thumbnails.js';
import { scoreCaptions } from '../../src/eval/score.js';
import { makeJpeg } from '../helpers/images.js';

const ANIMALS = ['dog', 'cat', 'horse', 'bird', 'cow', 'goat'];
const PLACES = ['grass', 'snow', 'water', 'sand', 'road'];

/**
 * A generated split of n photos: photo i shows ANIMALS[i % 6] on PLACES[i % 5]. The captions: a third
 * exact, a third with the wrong animal, every fifth "a dog runs on the grass" (a repeated caption), and
 * two that break the rules.
 */
function tinySplit(n: number): Pick<ReportInput, 'captions' | 'references'> {
  const references = new Map<string, string[]>();
  const captions: { image: string; caption: string }[] = [];
  for (let i = 0; i < n; i++) {
    const image = `photo-${String(i).padStart(3, '0')}.jpg`;
    const animal = ANIMALS[i % ANIMALS.length];
    const place = PLACES[i % PLACES.length];
    references.set(image, [
      `A ${animal} runs on the ${place} .`,
      `The ${animal} is on the ${place}`,
      `A brown ${animal} plays in the ${place}`,
      `A ${animal} outside`,
      `An animal on the ${place}`,
    ]);
    let caption = `a ${animal} runs on the ${place}`;
    if (i % 3 === 1) caption = `a ${ANIMALS[(i + 1) % ANIMALS.length]} stands`;
    if (i % 5 === 0) caption = 'a dog runs on the grass';
    captions.push({ image, caption });
  }
  captions[1].caption = 'a man in a red shirt and '.repeat(3) + 'a man'; // 23 words
  captions[2].caption = 'a <b>dog</b> & a cat with';
  return { captions, references };
}

function input(n: number, extra: Partial<ReportInput> = {}): ReportInput {
  const split = tinySplit(n);
  return {
    model: '/models/tiny',
    split: 'test',
    decodingText: 'beam 3, length penalty 0.7',
    scores: scoreCaptions(new Map(split.captions.map((c) => [c.image, c.caption])), split.references),
    generatedAt: new Date('2026-01-02T03:04:05Z'),
    ...split,
    ...extra,
  };
}

test('per-image CIDEr-D averages to the corpus score; best and worst are the extremes', () => {
  const data = buildReportData(input(60));
  const mean = data.rows.reduce((s, r) => s + r.ciderD, 0) / data.rows.length;
  assert.ok(Math.abs(mean - input(60).scores.ciderD * 100) < 1e-9, `${mean}`);
  assert.equal(data.best.length, EXTREMES_SHOWN);
  assert.equal(data.worst.length, EXTREMES_SHOWN);
  const scores = data.rows.map((r) => r.ciderD).sort((a, b) => b - a);
  assert.equal(data.best[0].ciderD, scores[0]);
  assert.equal(data.worst[0].ciderD, scores[scores.length - 1]);
  for (let i = 1; i < EXTREMES_SHOWN; i++) {
    assert.ok(data.best[i - 1].ciderD >= data.best[i].ciderD, 'best first');
    assert.ok(data.worst[i - 1].ciderD <= data.worst[i].ciderD, 'worst first');
  }
});

test('repeated captions, vocabulary and rule checks are counted', () => {
  const data = buildReportData(input(60));
  // Every fifth photo (0, 5, …, 55) is "a dog runs on the grass", and so are the exact captions of
  // the photos that show a dog on grass and are not in the other groups.
  const top = data.repeated[0];
  assert.equal(top.caption, 'a dog runs on the grass');
  const expected = input(60).captions.filter((c) => c.caption === 'a dog runs on the grass').length;
  assert.equal(top.images.length, expected);
  assert.equal(expected, 12);
  for (let i = 1; i < data.repeated.length; i++)
    assert.ok(data.repeated[i - 1].images.length >= data.repeated[i].images.length, 'most photos first');
  const counts = new Map<string, number>();
  for (const c of input(60).captions) counts.set(c.caption, (counts.get(c.caption) ?? 0) + 1);
  const repeated = [...counts.values()].filter((n) => n > 1);
  assert.deepEqual(data.repeatedTotals, {
    captions: repeated.length,
    photos: repeated.reduce((a, b) => a + b, 0),
  });
  assert.deepEqual(data.checks, { repeatedTrigram: 1, danglingEnd: 1, tooLong: 1, maxLength: 20 });
  // References: 6 animals, 5 places and a, runs, on, the, is, brown, plays, in, outside, an, animal. The
  // captions share 15 of them (a, on, runs, the, in, 6 animals less the cow, 5 places).
  assert.equal(data.vocabulary.referenceWords, 22);
  assert.equal(data.vocabulary.shared, 15);
  assert.ok(
    data.vocabulary.neverUsed.some(([w]) => w === 'brown'),
    'no caption says "brown"',
  );
  assert.ok(!data.vocabulary.neverUsed.some(([w]) => w === 'dog'), 'captions say "dog"');
  assert.equal(data.vocabulary.mostUsed[0][0], 'a');
});

test('the HTML page: every photo once in the table, thumbnails embedded, escaped, sortable, no outside assets', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'captioner-report-'));
  const split = tinySplit(30);
  for (const [i, c] of split.captions.entries()) {
    if (i === 7) continue; // a missing photo: no thumbnail, the report goes on
    await writeFile(join(dir, c.image), await makeJpeg(320, 240, [i * 8, 100, 50]));
  }
  await writeFile(join(dir, split.captions[8].image), 'not a jpeg');
  const thumbnails = await makeThumbnails(
    dir,
    split.captions.map((c) => c.image),
  );
  assert.equal(thumbnails.size, 28);
  const html = renderReport(input(30, { thumbnails }));

  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<title>captioner report: models\/tiny on the test split<\/title>/);
  // Scores ×100, and the distinct count.
  const s = input(30).scores;
  assert.ok(html.includes(`<td>${(s.ciderD * 100).toFixed(1)}</td>`));
  assert.ok(html.includes(`<td>${(s.bleu4 * 100).toFixed(1)}</td>`));
  assert.ok(html.includes(`${s.distinct} / 30`));
  // Every photo is one row of the table, in split order.
  const rows = [...html.matchAll(/<tr data-index="(\d+)"/g)].map((m) => Number(m[1]));
  assert.deepEqual(
    rows,
    Array.from({ length: 30 }, (_, i) => i + 1),
  );
  for (const c of split.captions) assert.ok(html.includes(`<div class="file">${c.image}</div>`), c.image);
  for (const ref of split.references.get(split.captions[3].image)!)
    assert.ok(html.includes(`<li>${ref}</li>`));
  // Thumbnails are data URIs; the unreadable and missing photos say so.
  assert.ok((html.match(/src="data:image\/jpeg;base64,/g) ?? []).length >= 28, 'thumbnails');
  assert.ok(html.includes('title="photo-007.jpg">no photo</span>'));
  // Best and worst 20 (of 30), repeated captions, words.
  assert.match(html, /<h2>Best 20 by CIDEr-D<\/h2>/);
  assert.match(html, /<h2>Worst 20 by CIDEr-D<\/h2>/);
  assert.match(html, /<h2>Most repeated captions<\/h2>/);
  assert.match(html, /<td class="num">6<\/td><td>a dog runs on the grass<\/td>/);
  assert.match(
    html,
    /The captions use <b>\d+<\/b> distinct words; the references of the same photos use <b>\d+<\/b>/,
  );
  // Rule breaches are flagged.
  assert.ok(html.includes('<span class="badge">repeats “a man in”</span>'));
  assert.ok(html.includes('<span class="badge">ends on “with”</span>'));
  // Captions are escaped, never markup.
  assert.ok(!html.includes('<b>dog</b>'));
  assert.ok(html.includes('a &lt;b&gt;dog&lt;/b&gt; &amp; a cat with'));
  // Sorting and filtering are inline; nothing is fetched from elsewhere.
  assert.match(html, /<button data-key="cider" data-type="num">CIDEr-D<\/button>/);
  assert.match(html, /<script>[\s\S]*rows\.sort[\s\S]*<\/script>/);
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
  assert.doesNotMatch(html, /<link /);
});

test('thumbnails are small: 1,000 of them would keep a report well under 15 MB', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'captioner-thumbs-'));
  // Noisy photos compress worst: an upper bound for real ones.
  const noisy = async (seed: number) => {
    const pixels = Buffer.alloc(500 * 375 * 3);
    let x = seed;
    for (let i = 0; i < pixels.length; i++) pixels[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    const sharp = (await import('sharp')).default;
    return sharp(pixels, { raw: { width: 500, height: 375, channels: 3 } })
      .jpeg()
      .toBuffer();
  };
  for (let i = 0; i < 4; i++) await writeFile(join(dir, `${i}.jpg`), await noisy(i + 1));
  const thumbnails = await makeThumbnails(dir, ['0.jpg', '1.jpg', '2.jpg', '3.jpg']);
  for (const uri of thumbnails.values()) {
    assert.ok(uri.startsWith('data:image/jpeg;base64,'));
    // 112 px wide, so at most 112 × 84 pixels; even noise stays under 10 kB of base64.
    assert.ok(uri.length < 10_000, `${uri.length}`);
  }
});
