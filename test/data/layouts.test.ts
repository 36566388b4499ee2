import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cocoSplitFromName, parseCocoJson } from '../../src/data/layouts/coco-json.js';
import { parseKarpathyJson } from '../../src/data/layouts/karpathy-json.js';
import { findCaptionFiles, readCaptionSource } from '../../src/data/layouts/read-captions.js';
import { parseTableText } from '../../src/data/layouts/table-file.js';

const sentences = (...raw: string[]) => raw.map((r) => ({ raw: r, tokens: r.split(' ') }));

test("Karpathy's JSON: val is dev, restval joins train unless told, filepath nests, bad items reported", () => {
  const json = {
    dataset: 'coco',
    images: [
      {
        filepath: 'train2014',
        filename: 'a.jpg',
        split: 'train',
        sentences: sentences('A dog .', 'A brown dog'),
      },
      { filepath: 'val2014', filename: 'b.jpg', split: 'val', sentences: sentences('A cat') },
      { filepath: 'val2014', filename: 'c.jpg', split: 'restval', sentences: sentences('A bird') },
      { filepath: '', filename: 'd.jpg', split: 'test', sentences: [{ raw: '  ' }, { raw: 'A fish' }] },
      { filename: 'e.jpg', split: 'holdout', sentences: sentences('A cow') },
      { split: 'train', sentences: sentences('No name') },
      { filename: 'f.jpg', split: 'train', sentences: [] },
    ],
  };
  const source = parseKarpathyJson(json, '/x/dataset_coco.json');
  assert.equal(source.format, 'karpathy-json');
  assert.deepEqual(
    source.entries.map((e) => [e.image, e.caption, e.split, e.at]),
    [
      ['train2014/a.jpg', 'A dog .', 'train', 'images[0].sentences[0]'],
      ['train2014/a.jpg', 'A brown dog', 'train', 'images[0].sentences[1]'],
      ['val2014/b.jpg', 'A cat', 'dev', 'images[1].sentences[0]'],
      ['val2014/c.jpg', 'A bird', 'train', 'images[2].sentences[0]'],
      ['d.jpg', 'A fish', 'test', 'images[3].sentences[1]'],
    ],
  );
  assert.deepEqual(
    source.issues.map((i) => `${i.file}:${i.line}: ${i.reason}`),
    [
      'dataset_coco.json:0: images[3].sentences[0]: empty caption for d.jpg',
      'dataset_coco.json:0: images[4] (e.jpg): split "holdout" is not train, val, test or restval; its 1 captions are skipped',
      'dataset_coco.json:0: images[5]: no "filename"',
      'dataset_coco.json:0: images[6] (f.jpg): no sentences',
    ],
  );
  assert.equal(parseKarpathyJson(json, 'd.json', 'dev').entries[3].split, 'dev');
  assert.equal(parseKarpathyJson(json, 'd.json', 'skip').entries[3].split, null);
});

test('COCO captions JSON: the split from the file name, unknown ids and empty captions reported', () => {
  const json = {
    images: [
      { id: 1, file_name: 'COCO_val2014_1.jpg' },
      { id: 2, file_name: 'COCO_val2014_2.jpg' },
      { id: 3, file_name: 'COCO_val2014_3.jpg' },
    ],
    annotations: [
      { image_id: 1, id: 10, caption: 'A man riding a horse.' },
      { image_id: 2, id: 11, caption: 'Two cats.' },
      { image_id: 1, id: 12, caption: 'A horse and its rider' },
      { image_id: 9, id: 13, caption: 'Lost' },
      { image_id: 2, id: 14, caption: '' },
    ],
  };
  const source = parseCocoJson(json, '/coco/annotations/captions_val2014.json');
  assert.deepEqual(
    source.entries.map((e) => [e.image, e.caption, e.split]),
    [
      ['COCO_val2014_1.jpg', 'A man riding a horse.', 'dev'],
      ['COCO_val2014_2.jpg', 'Two cats.', 'dev'],
      ['COCO_val2014_1.jpg', 'A horse and its rider', 'dev'],
    ],
  );
  assert.deepEqual(
    source.issues.map((i) => i.reason),
    [
      'annotations[3]: image_id 9 is not in "images"',
      'annotations[4]: empty caption for COCO_val2014_2.jpg',
      'images[2] (COCO_val2014_3.jpg): no caption',
    ],
  );
  assert.equal(cocoSplitFromName('captions_train2017.json'), 'train');
  assert.equal(cocoSplitFromName('captions_test.json'), 'test');
  assert.throws(
    () => cocoSplitFromName('captions_trainval.json'),
    /cannot tell the split.*not train and val/,
  );
  assert.throws(() => cocoSplitFromName('captions_all.json'), /cannot tell the split/);
});

test('a CSV of your own: header names detected, quoted commas, bad rows with their line', () => {
  const text = [
    'File Name,Description,Photographer',
    'trip/a.jpg,"A dog, running",Ann',
    'b.png,Ein Hund läuft über die Straße,Bob',
    ',A caption without image,Cy',
    'c.jpg,,Dee',
    'd.jpg,"never closed',
  ].join('\n');
  const source = parseTableText(text, '/x/mine.csv', 'csv');
  assert.equal(source.format, 'csv');
  assert.deepEqual(
    source.entries.map((e) => [e.image, e.caption, e.line]),
    [
      ['trip/a.jpg', 'A dog, running', 2],
      ['b.png', 'Ein Hund läuft über die Straße', 3],
    ],
  );
  assert.deepEqual(
    source.issues.map((i) => [i.file, i.line, i.reason]),
    [
      ['mine.csv', 4, 'empty image name'],
      ['mine.csv', 5, 'empty caption for c.jpg'],
      ['mine.csv', 6, 'unterminated quote'],
    ],
  );
});

test('TSV, semicolon CSV, no header, numbered caption columns, JSON Lines', () => {
  const tsv = parseTableText('image\tcaption\na.jpg\tA "quoted" word\n', 't.tsv', 'tsv');
  assert.deepEqual(
    tsv.entries.map((e) => e.caption),
    ['A "quoted" word'],
  );
  // Excel's CSV where the comma is the decimal mark.
  const semi = parseTableText('bild;beschreibung\na.jpg;Ein Hund, braun\n', 's.csv', 'csv');
  assert.deepEqual(
    semi.entries.map((e) => [e.image, e.caption]),
    [['a.jpg', 'Ein Hund, braun']],
  );
  const bare = parseTableText('a.jpg,A dog runs\nb.jpg,A cat sleeps\n', 'bare.csv', 'csv');
  assert.deepEqual(
    bare.entries.map((e) => [e.image, e.line]),
    [
      ['a.jpg', 1],
      ['b.jpg', 2],
    ],
  );
  const numbered = parseTableText(
    'image,caption_1,caption_2,caption_3\na.jpg,A dog,A brown dog,\nb.jpg,,,\n',
    'n.csv',
    'csv',
  );
  assert.deepEqual(
    numbered.entries.map((e) => e.caption),
    ['A dog', 'A brown dog'],
  );
  assert.deepEqual(
    numbered.issues.map((i) => [i.line, i.reason]),
    [[3, 'empty caption for b.jpg']],
  );
  const jsonl = parseTableText(
    [
      '{"path": "x/a.jpg", "captions": ["A dog", "Un chien"]}',
      'not json',
      '{"path": "b.jpg", "captions": "A cat"}',
      '[1, 2]',
      '{"path": "c.jpg", "captions": [3]}',
    ].join('\n'),
    'c.jsonl',
    'jsonl',
  );
  assert.deepEqual(
    jsonl.entries.map((e) => [e.image, e.caption, e.line]),
    [
      ['x/a.jpg', 'A dog', 1],
      ['x/a.jpg', 'Un chien', 1],
      ['b.jpg', 'A cat', 3],
    ],
  );
  assert.deepEqual(
    jsonl.issues.map((i) => [i.line, i.reason.replace(/:.*/, '')]),
    [
      [2, 'not JSON'],
      [4, 'not a JSON object'],
      [5, 'a caption of c.jpg is not text'],
    ],
  );
});

test("Flickr30k's Kaggle results.csv: '|'-separated, padded, with a comment number column", () => {
  const text = [
    'image_name| comment_number| comment',
    '1000092795.jpg| 0| Two young guys with shaggy hair look at their hands .',
    '1000092795.jpg| 1| Two young , White males are outside near many bushes .',
    '1000092795.jpg| 2 Two men in green shirts are standing in a yard .',
  ].join('\n');
  const source = parseTableText(text, 'results.csv', 'csv');
  assert.deepEqual(
    source.entries.map((e) => [e.image, e.caption]),
    [
      ['1000092795.jpg', 'Two young guys with shaggy hair look at their hands .'],
      ['1000092795.jpg', 'Two young , White males are outside near many bushes .'],
    ],
  );
  assert.deepEqual(source.issues, [
    { file: 'results.csv', line: 4, reason: '2 fields where the header has 3' },
  ]);
});

test('ambiguous columns are an error that names them; --image-column/--caption-column settle it', () => {
  const text = 'image,file,text,description\na.jpg,a.jpg,A dog,A brown dog\n';
  assert.throws(
    () => parseTableText(text, 'amb.csv', 'csv'),
    /amb\.csv: cannot tell which column names the image \(image, file all could\); name it with --image-column/,
  );
  assert.throws(
    () => parseTableText(text, 'amb.csv', 'csv', { imageColumn: 'file' }),
    /cannot tell which column holds the captions \(text, description all could\); name it with --caption-column/,
  );
  const one = parseTableText(text, 'amb.csv', 'csv', {
    imageColumn: 'FILE',
    captionColumns: ['description'],
  });
  assert.deepEqual(
    one.entries.map((e) => e.caption),
    ['A brown dog'],
  );
  const two = parseTableText(text, 'amb.csv', 'csv', { imageColumn: '1', captionColumns: ['3', '4'] });
  assert.deepEqual(
    two.entries.map((e) => e.caption),
    ['A dog', 'A brown dog'],
  );
  assert.throws(
    () => parseTableText(text, 'amb.csv', 'csv', { imageColumn: 'photo' }),
    /--image-column photo: no such column \(columns: image, file, text, description\)/,
  );
  // No telling header: the content decides.
  const guessed = parseTableText('id,x,y\n1,a.jpg,A dog on grass\n2,b.jpg,Two cats\n', 'g.csv', 'csv');
  assert.deepEqual(
    guessed.entries.map((e) => [e.image, e.caption]),
    [
      ['a.jpg', 'A dog on grass'],
      ['b.jpg', 'Two cats'],
    ],
  );
});

test('readCaptionSource tells the format by the content; findCaptionFiles knows the layouts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'captioner-layouts-'));
  const write = async (name: string, text: string) => {
    await writeFile(join(dir, name), text);
    return join(dir, name);
  };
  const formats = [
    ['token.txt', 'a.jpg#0\tA dog\n', 'flickr8k-token'],
    ['kaggle.txt', 'image,caption\na.jpg,A dog\n', 'kaggle-csv'],
    ['mine.txt', 'photo,text\na.jpg,A dog\n', 'csv'],
    [
      'k.json',
      JSON.stringify({ images: [{ filename: 'a.jpg', split: 'train', sentences: sentences('A dog') }] }),
      'karpathy-json',
    ],
    [
      'captions_train.json',
      JSON.stringify({
        images: [{ id: 1, file_name: 'a.jpg' }],
        annotations: [{ image_id: 1, caption: 'A dog' }],
      }),
      'coco-json',
    ],
    ['list.json', JSON.stringify([{ image: 'a.jpg', caption: 'A dog' }]), 'json'],
    [
      'lines.txt',
      '{"image": "a.jpg", "caption": "A dog"}\n{"image": "b.jpg", "caption": "A cat"}\n',
      'jsonl',
    ],
  ];
  for (const [name, text, format] of formats) {
    const source = await readCaptionSource(await write(name, text));
    assert.equal(source.format, format, name);
    assert.equal(source.entries[0].caption, 'A dog', name);
  }
  await assert.rejects(
    readCaptionSource(await write('broken.json', '[{"image": ')),
    /broken\.json: not valid JSON/,
  );
  await assert.rejects(
    readCaptionSource(await write('none.csv', 'image,caption\na.jpg,\n')),
    /none\.csv: no caption could be read \(1 bad lines, the first: line 2: empty caption for a\.jpg\)/,
  );
  await assert.rejects(readCaptionSource(join(dir, 'nope.csv')), /caption file not found/);

  const data = await mkdtemp(join(tmpdir(), 'captioner-detect-'));
  await assert.rejects(findCaptionFiles(data), /no caption file in .*name it with --captions/);
  await writeFile(join(data, 'mine.csv'), 'image,caption\n');
  assert.deepEqual(await findCaptionFiles(data), [join(data, 'mine.csv')]);
  await writeFile(join(data, 'other.tsv'), 'image\tcaption\n');
  await assert.rejects(
    findCaptionFiles(data),
    /several caption tables \(mine\.csv, other\.tsv\).*--captions/,
  );
  await writeFile(join(data, 'captions_val.json'), '{}');
  await writeFile(join(data, 'captions_train.json'), '{}');
  assert.deepEqual(await findCaptionFiles(data), [
    join(data, 'captions_train.json'),
    join(data, 'captions_val.json'),
  ]);
  await writeFile(join(data, 'dataset_flickr8k.json'), '{}');
  assert.deepEqual(await findCaptionFiles(data), [join(data, 'dataset_flickr8k.json')]);
  await writeFile(join(data, 'captions.txt'), 'image,caption\n');
  assert.deepEqual(await findCaptionFiles(data), [join(data, 'captions.txt')]);
});

test('Excel\'s encodings: UTF-16 "Unicode text" and Windows-1252 CSV keep their accents', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'captioner-encodings-'));
  const text = 'Bild\tBeschreibung\r\nstraße.jpg\tEin Hund läuft über die Straße, à l’été\r\n';
  const utf16 = join(dir, 'unicode.txt');
  await writeFile(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
  const cp1252 = join(dir, 'excel.csv');
  await writeFile(cp1252, Buffer.from(text.replace(/\t/g, ';').replace('’', "'"), 'latin1'));
  const a = await readCaptionSource(utf16);
  assert.equal(a.format, 'tsv');
  assert.deepEqual(
    a.entries.map((e) => [e.image, e.caption]),
    [['straße.jpg', 'Ein Hund läuft über die Straße, à l’été']],
  );
  const b = await readCaptionSource(cp1252);
  assert.deepEqual(
    b.entries.map((e) => [e.image, e.caption]),
    [['straße.jpg', "Ein Hund läuft über die Straße, à l'été"]],
  );
});
