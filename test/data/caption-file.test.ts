import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseCaptionText, readCaptionFile } from '../../src/data/caption-file.js';
import { CaptionerError } from '../../src/util/errors.js';

test('reads the original token format', () => {
  const text = 'a.jpg#0\tA dog runs .\na.jpg#1\tA brown dog .\r\nb.jpg#0\tTwo kids play\n';
  const file = parseCaptionText(text, 'Flickr8k.token.txt');
  assert.equal(file.format, 'flickr8k-token');
  assert.deepEqual(
    file.entries.map((e) => [e.image, e.caption, e.line]),
    [
      ['a.jpg', 'A dog runs .', 1],
      ['a.jpg', 'A brown dog .', 2],
      ['b.jpg', 'Two kids play', 3],
    ],
  );
  assert.deepEqual(file.issues, []);
});

test("reads Kaggle's CSV with quoted commas and doubled quotes", () => {
  const text = [
    'image,caption',
    'a.jpg,A dog runs .',
    'a.jpg,"A dog , brown and white , runs ."',
    'b.jpg,"A sign says ""stop"" ."',
    'b.jpg,a man, a woman and a child', // unquoted commas: rejoined
  ].join('\n');
  const file = parseCaptionText(text, 'captions.txt');
  assert.equal(file.format, 'kaggle-csv');
  assert.deepEqual(
    file.entries.map((e) => [e.image, e.caption, e.line]),
    [
      ['a.jpg', 'A dog runs .', 2],
      ['a.jpg', 'A dog , brown and white , runs .', 3],
      ['b.jpg', 'A sign says "stop" .', 4],
      ['b.jpg', 'a man, a woman and a child', 5],
    ],
  );
});

test('bad lines are reported with their line number and skipped', () => {
  const text = [
    'a.jpg#0\tA dog runs .',
    'this line has no tab at all',
    'a.jpg#1\t   ',
    '\tA caption without image',
    'b.jpg#0\tA cat .',
  ].join('\n');
  const file = parseCaptionText(text, '/x/Flickr8k.token.txt');
  assert.equal(file.entries.length, 2);
  assert.deepEqual(file.issues, [
    { file: 'Flickr8k.token.txt', line: 2, reason: 'no tab between image and caption' },
    { file: 'Flickr8k.token.txt', line: 3, reason: 'empty caption for a.jpg' },
    { file: 'Flickr8k.token.txt', line: 4, reason: 'empty image name' },
  ]);
});

test('bad CSV records are reported', () => {
  const text = ['image,caption', 'a.jpg,A dog .', 'lonely-field', 'b.jpg,', 'c.jpg,"never closed'].join('\n');
  const file = parseCaptionText(text, 'captions.txt');
  assert.equal(file.entries.length, 1);
  assert.deepEqual(
    file.issues.map((i) => [i.line, i.reason]),
    [
      [3, 'no comma between image and caption'],
      [4, 'empty caption for b.jpg'],
      [5, 'unterminated quote'],
    ],
  );
});

test('a missing file or an unparsable one is a clear error', async () => {
  await assert.rejects(readCaptionFile('/nonexistent/Flickr8k.token.txt'), (e: unknown) => {
    assert.ok(e instanceof CaptionerError);
    assert.match(e.message, /caption file not found: \/nonexistent\/Flickr8k.token.txt/);
    return true;
  });
  const dir = await mkdtemp(join(tmpdir(), 'captioner-'));
  await writeFile(join(dir, 'junk.txt'), 'hello\nworld\n');
  await assert.rejects(readCaptionFile(join(dir, 'junk.txt')), /not a Flickr8k caption file/);
  assert.throws(() => parseCaptionText('', 'empty.txt'), /not a Flickr8k caption file/);
});
