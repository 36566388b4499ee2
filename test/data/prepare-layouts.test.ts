import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCorpus, prepareCorpus } from '../../src/data/corpus.js';
import { SPLITS } from '../../src/data/splits.js';
import { runCli } from '../helpers/cli.js';
import { sharedFlickr8k } from '../helpers/shared.js';

/** Flickr8k's captions by image, and its split files' lists, read from ../shared. */
async function flickr8k(dir: string) {
  const captions = new Map<string, string[]>();
  for (const line of (await readFile(join(dir, 'Flickr8k.token.txt'), 'utf8')).split('\n')) {
    const [key, caption] = line.split('\t');
    if (!caption) continue;
    const image = key.replace(/#\d+$/, '');
    captions.set(image, [...(captions.get(image) ?? []), caption.trim()]);
  }
  const lists = {} as Record<'train' | 'dev' | 'test', string[]>;
  for (const split of SPLITS)
    lists[split] = (await readFile(join(dir, `Flickr_8k.${split}Images.txt`), 'utf8'))
      .split('\n')
      .filter((l) => l.trim());
  return { captions, lists };
}

const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const tmp = (prefix: string) => mkdtemp(join(tmpdir(), `captioner-${prefix}-`));

test("Kaggle's copy without split files gets the official split: 6,000/1,000/1,000", async (t) => {
  const { dir, skip } = sharedFlickr8k();
  if (!dir) return t.skip(skip);
  const { captions } = await flickr8k(dir);
  const data = await tmp('kaggle');
  const rows = [...captions].flatMap(([image, cs]) => cs.map((c) => `${image},${csvField(c)}`));
  await writeFile(join(data, 'captions.txt'), ['image,caption', ...rows].join('\n') + '\n');
  await symlink(join(dir, 'Images'), join(data, 'Images'));
  const { stats, corpus } = await prepareCorpus({ dataDir: data });
  assert.deepEqual(stats.images, { train: 6000, dev: 1000, test: 1000 });
  assert.deepEqual(stats.captions, { train: 30000, dev: 5000, test: 5000 });
  assert.equal(stats.vocabWords, 2529);
  assert.equal(stats.unusedImages, 91);
  assert.equal(stats.format, 'kaggle-csv');
  assert.equal(corpus.split?.method, 'flickr8k-official');
  assert.equal(corpus.source.imagesDir, join(data, 'Images'));
  // The same images in the same order as with the split files.
  const official = await prepareCorpus({ dataDir: dir });
  for (const split of SPLITS)
    assert.deepEqual(
      corpus.splits[split].map((m) => m.image),
      official.corpus.splits[split].map((m) => m.image),
    );
});

test("Karpathy's dataset_flickr8k.json with --images: 6,000/1,000/1,000 and ~2,530 words; restval", async (t) => {
  const { dir, skip } = sharedFlickr8k();
  if (!dir) return t.skip(skip);
  const { captions, lists } = await flickr8k(dir);
  const data = await tmp('karpathy');
  const karpathySplit = { train: 'train', dev: 'val', test: 'test' } as const;
  const images = SPLITS.flatMap((split) =>
    lists[split].map((filename, i) => ({
      filepath: 'Flicker8k_Dataset',
      filename,
      imgid: i,
      // Karpathy's COCO file moves some of val into restval; here 500 train images stand for it.
      split: split === 'train' && i < 500 ? 'restval' : karpathySplit[split],
      sentences: captions.get(filename)!.map((raw) => ({ raw, tokens: raw.toLowerCase().split(' ') })),
    })),
  );
  const file = join(data, 'dataset_flickr8k.json');
  await writeFile(file, JSON.stringify({ images, dataset: 'flickr8k' }));
  const work = join(data, 'work');
  const result = await runCli([
    'prepare',
    '--captions',
    file,
    '--images',
    join(dir, 'Images'),
    '--out',
    work,
    '--json',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const stats = JSON.parse(result.stdout);
  assert.deepEqual(stats.images, { train: 6000, dev: 1000, test: 1000 });
  assert.ok(stats.vocabWords >= 2480 && stats.vocabWords <= 2620, `${stats.vocabWords} words`);
  assert.equal(stats.format, 'karpathy-json');
  assert.deepEqual(stats.skipped, []);
  // filepath names a folder that is not there: the photo is found by its file name.
  const { corpus } = await loadCorpus(work);
  assert.equal(corpus.splits.test[0].image, lists.test[0]);
  assert.match(
    corpus.split!.description,
    /Karpathy's splits in dataset_flickr8k\.json \(val is dev; restval joins train\)/,
  );

  const dev = await prepareCorpus({ captionFile: file, imagesDir: null, restval: 'dev' });
  assert.deepEqual(dev.stats.images, { train: 5500, dev: 1500, test: 1000 });
  assert.equal(dev.corpus.splits.dev[0].image, 'Flicker8k_Dataset/' + lists.train[0]);
  const skipped = await prepareCorpus({ captionFile: file, imagesDir: null, restval: 'skip' });
  assert.deepEqual(skipped.stats.images, { train: 5500, dev: 1000, test: 1000 });
  assert.equal(skipped.stats.unusedImages, 500);
});

test('COCO-style captions files, one a split, repeated --captions: 6,000/1,000/1,000', async (t) => {
  const { dir, skip } = sharedFlickr8k();
  if (!dir) return t.skip(skip);
  const { captions, lists } = await flickr8k(dir);
  const data = await tmp('coco');
  const args: string[] = [];
  let id = 0;
  for (const [split, name] of [
    ['train', 'captions_train.json'],
    ['dev', 'captions_val.json'],
    ['test', 'captions_test.json'],
  ] as const) {
    const images = lists[split].map((file_name) => ({ id: ++id, file_name, width: 500, height: 375 }));
    const annotations = images.flatMap((image) =>
      captions
        .get(image.file_name)!
        .map((caption, k) => ({ id: image.id * 10 + k, image_id: image.id, caption })),
    );
    await writeFile(join(data, name), JSON.stringify({ info: {}, images, annotations }));
    args.push('--captions', join(data, name));
  }
  const result = await runCli([
    'prepare',
    ...args,
    '--images',
    join(dir, 'Images'),
    '--out',
    join(data, 'work'),
    '--json',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const stats = JSON.parse(result.stdout);
  assert.deepEqual(stats.images, { train: 6000, dev: 1000, test: 1000 });
  assert.deepEqual(stats.captions, { train: 30000, dev: 5000, test: 5000 });
  assert.ok(stats.vocabWords >= 2480 && stats.vocabWords <= 2620, `${stats.vocabWords} words`);
  assert.equal(stats.format, 'coco-json');
  // Found in the folder too (no --captions).
  const found = await prepareCorpus({ dataDir: data, imagesDir: null });
  assert.deepEqual(found.stats.images, { train: 6000, dev: 1000, test: 1000 });
});

test('600 renamed photos in albums with a CSV: a hash split, every part non-empty, ≥70% train, stable', async (t) => {
  const { dir, skip } = sharedFlickr8k();
  if (!dir) return t.skip(skip);
  const { captions } = await flickr8k(dir);
  const data = await tmp('own');
  const photos = join(data, 'photos');
  const rows = ['photo,caption'];
  const originals = [...captions.keys()].sort().slice(0, 600);
  for (const [i, original] of originals.entries()) {
    // Two albums with the same file names, as two phones would make.
    const album = `album${i % 2}`;
    const name = `IMG_${String(Math.floor(i / 2)).padStart(4, '0')}.jpg`;
    await mkdir(join(photos, album), { recursive: true });
    await symlink(join(dir, 'Images', original), join(photos, album, name));
    for (const c of captions.get(original)!) rows.push(`${album}/${name},${csvField(c)}`);
  }
  const csv = join(data, 'my-captions.csv');
  await writeFile(csv, rows.join('\n') + '\n');
  const run = async (out: string) => {
    const result = await runCli(['prepare', '--captions', csv, '--images', photos, '--out', out, '--json']);
    assert.equal(result.code, 0, result.stderr);
    return { stats: JSON.parse(result.stdout), corpus: (await loadCorpus(out)).corpus };
  };
  const first = await run(join(data, 'work1'));
  const { images } = first.stats;
  assert.equal(images.train + images.dev + images.test, 600);
  assert.ok(images.dev > 0 && images.test > 0 && images.train >= 0.7 * 600, JSON.stringify(images));
  assert.equal(first.stats.format, 'csv');
  assert.deepEqual(first.stats.skipped, []);
  assert.equal(first.corpus.split?.method, 'hash');
  assert.deepEqual(first.corpus.split?.ratio, [0.8, 0.1, 0.1]);
  assert.ok(first.corpus.splits.train.some((m) => m.image === 'album1/IMG_0000.jpg'));
  const second = await run(join(data, 'work2'));
  assert.deepEqual(second.corpus.splits, first.corpus.splits);
  assert.deepEqual(second.stats, first.stats);
  // The table printed says how the split was made.
  const table = await runCli(['prepare', '--data', data, '--images', photos, '--out', join(data, 'work3')]);
  assert.match(
    table.stdout,
    /split: from a hash of each image's file name \(SHA-256\): ratio 0\.8\/0\.1\/0\.1/,
  );
  const sizes = await prepareCorpus({ captionFile: csv, imagesDir: photos, splitSizes: ['rest', 50, 50] });
  assert.deepEqual(sizes.stats.images, { train: 500, dev: 50, test: 50 });
});

test('German and French captions keep their letters from the file to the vocabulary and back', async () => {
  const data = await tmp('lang');
  await mkdir(join(data, 'fotos', 'urlaub'), { recursive: true });
  const rows = ['bild;beschreibung'];
  for (let i = 0; i < 12; i++) {
    const name = `urlaub/bild${i}.jpg`;
    await writeFile(join(data, 'fotos', name), 'not read by prepare');
    rows.push(
      `${name};Ein Hund läuft über die Straße.`,
      `${name};Un chien saute par-dessus l’obstacle à l'été « vite »`,
    );
  }
  await writeFile(join(data, 'beschreibungen.csv'), '\uFEFF' + rows.join('\r\n') + '\r\n');
  const work = join(data, 'work');
  const result = await runCli([
    'prepare',
    '--data',
    data,
    '--out',
    work,
    '--min-count',
    '1',
    '--split-ratio',
    '1,0,0',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const { corpus, vocabulary } = await loadCorpus(work);
  // No Images/ folder: the data folder is the photo folder, and names are paths from it.
  assert.equal(corpus.source.imagesDir, data);
  assert.equal(corpus.splits.train[0].image.replace(/\d+/, '0'), 'fotos/urlaub/bild0.jpg');
  assert.equal(corpus.splits.train.length, 12);
  const [german, french] = corpus.splits.train[0].tokens;
  assert.equal(vocabulary.decode(german), 'ein hund läuft über die straße');
  assert.equal(vocabulary.decode(french), "un chien saute par dessus l'obstacle à l'été vite");
  assert.deepEqual(corpus.splits.train[0].references, [
    'Ein Hund läuft über die Straße.',
    "Un chien saute par-dessus l’obstacle à l'été « vite »",
  ]);
});

test('missing photos, ambiguous names and bad rows are listed with file, line and reason', async () => {
  const data = await tmp('issues');
  for (const album of ['a', 'b']) {
    await mkdir(join(data, 'photos', album), { recursive: true });
    await writeFile(join(data, 'photos', album, 'IMG_1.jpg'), '');
  }
  await writeFile(join(data, 'photos', 'a', 'IMG_2.jpg'), '');
  await writeFile(join(data, 'photos', 'b', 'IMG_3.jpg'), '');
  const csv = [
    'image,caption',
    'IMG_1.jpg,A dog', // two photos have this name
    'IMG_2.jpg,A cat', // one photo has it: found in a/
    './b/IMG_3.jpg,A bird',
    'b/IMG_9.jpg,A ghost', // no such photo
    'notes.txt,A file',
    'a/IMG_1.jpg,A dog on grass',
  ].join('\n');
  await writeFile(join(data, 'captions.csv'), csv);
  const { stats, corpus } = await prepareCorpus({ dataDir: data, minCount: 1 });
  // The data folder is the photo folder (no Images/): names in the CSV are found below it.
  const expected = (dir: string, prefix: string) => [
    `captions.csv:2: IMG_1.jpg could be any of 2 photos in ${dir} (${prefix}a/IMG_1.jpg, ${prefix}b/IMG_1.jpg): name it by its path; its 1 captions are skipped`,
    `captions.csv:5: no file b/IMG_9.jpg in ${dir}; its 1 captions are skipped`,
    'captions.csv:6: "notes.txt" is not an image file name; its 1 captions are skipped',
  ];
  const listed = (p: typeof stats) => p.skipped.map((s) => `${s.file}:${s.line}: ${s.reason}`);
  assert.deepEqual(listed(stats), expected(data, 'photos/'));
  const names = (c: typeof corpus) => SPLITS.flatMap((s) => c.splits[s].map((m) => m.image)).sort();
  assert.deepEqual(names(corpus), ['photos/a/IMG_1.jpg', 'photos/a/IMG_2.jpg', 'photos/b/IMG_3.jpg']);
  const photos = join(data, 'photos');
  const given = await prepareCorpus({ dataDir: data, imagesDir: photos, minCount: 1 });
  assert.deepEqual(listed(given.stats), expected(photos, ''));
  assert.deepEqual(names(given.corpus), ['a/IMG_1.jpg', 'a/IMG_2.jpg', 'b/IMG_3.jpg']);
  // Without checking photos, names stay as written.
  const unchecked = await prepareCorpus({ dataDir: data, imagesDir: null, minCount: 1 });
  assert.equal(
    SPLITS.reduce((n, s) => n + unchecked.stats.images[s], 0),
    5,
  );
  assert.equal(unchecked.corpus.source.imagesDir, null);

  const cli = await runCli(['prepare', '--data', data, '--out', join(data, 'work'), '--min-count', '1']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /captions\.csv:5: no file b\/IMG_9\.jpg/);
  const usage = await runCli(['prepare', '--out', join(data, 'work')]);
  assert.equal(usage.code, 1);
  assert.match(usage.stderr, /give the data folder \(--data\) or the caption files \(--captions\)/);
  await writeFile(join(data, 'captions.csv'), 'image,text,description\na.jpg,A dog,A brown dog\n');
  const ambiguous = await runCli(['prepare', '--data', data, '--out', join(data, 'work')]);
  assert.equal(ambiguous.code, 1);
  assert.match(
    ambiguous.stderr,
    /^captioner: error: .*captions\.csv: cannot tell which column holds the captions .*--caption-column/,
  );
});

test('a data set without split files or Flickr8k names gets the hash split', async () => {
  const data = await tmp('plain');
  const lines = ['image,caption'];
  for (let i = 0; i < 30; i++) lines.push(`p${i}.jpg,A photo number ${i}`);
  await writeFile(join(data, 'captions.txt'), lines.join('\n'));
  const { stats, corpus } = await prepareCorpus({ dataDir: data, minCount: 1 });
  assert.equal(stats.format, 'kaggle-csv');
  assert.equal(corpus.split?.method, 'hash');
  assert.ok(stats.images.train > 0 && stats.images.dev > 0 && stats.images.test > 0);
  assert.equal(stats.images.train + stats.images.dev + stats.images.test, 30);
});

test('a photo in two COCO split files stays in the first; the other captions are listed', async () => {
  const data = await tmp('coco-twice');
  const file = (name: string, images: string[]) =>
    writeFile(
      join(data, name),
      JSON.stringify({
        images: images.map((file_name, i) => ({ id: i + 1, file_name })),
        annotations: images.map((file_name, i) => ({
          image_id: i + 1,
          caption: `A photo called ${file_name}`,
        })),
      }),
    );
  await file('captions_train2017.json', ['a.jpg', 'b.jpg', 'c.jpg']);
  await file('captions_val2017.json', ['d.jpg', 'b.jpg']);
  const { stats, corpus } = await prepareCorpus({ dataDir: data, imagesDir: null, minCount: 1 });
  assert.deepEqual(stats.images, { train: 3, dev: 1, test: 0 });
  assert.deepEqual(stats.skipped, [
    {
      file: 'captions_val2017.json',
      line: 0,
      reason: 'annotations[1]: b.jpg is already in the train split; this caption is skipped',
    },
  ]);
  assert.equal(corpus.split?.method, 'source');
  assert.match(corpus.split!.description, /captions_val2017\.json → dev/);
});

test('a photo name with an accent is found whatever Unicode form the file system or the table use', async () => {
  const data = await tmp('nfc');
  await mkdir(join(data, 'photos', 'Été'.normalize('NFD')), { recursive: true });
  const decomposed = 'cafe\u0301.jpg'; // as macOS writes "café.jpg"
  await writeFile(join(data, 'photos', 'Été'.normalize('NFD'), decomposed), '');
  await writeFile(join(data, 'captions.csv'), 'image,caption\nÉté/café.jpg,Un café au soleil\n');
  const { corpus, stats } = await prepareCorpus({
    dataDir: data,
    imagesDir: join(data, 'photos'),
    minCount: 1,
  });
  assert.deepEqual(stats.skipped, []);
  const [only] = SPLITS.flatMap((s) => corpus.splits[s]);
  assert.equal(only.image, `${'Été'.normalize('NFD')}/${decomposed}`);
});
