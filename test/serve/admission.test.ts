import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { Admission } from '../../src/serve/admission.js';
import { CaptionScheduler } from '../../src/serve/caption-scheduler.js';
import { buildServer } from '../../src/serve/server.js';
import { DoubleCaptioner } from '../helpers/double-captioner.js';
import { makeJpeg } from '../helpers/images.js';

/** A gate the test opens by hand: captions wait on it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { wait: () => opened, open };
}

async function until(condition: () => boolean | Promise<boolean>) {
  for (let i = 0; i < 500 && !(await condition()); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(await condition(), 'condition never became true');
}

/** Sends a request's headers, and its body only when told: what the server does before the body. */
function rawRequest(port: number, length: number) {
  const socket = connect(port, '127.0.0.1');
  let answer = '';
  socket.on('data', (d) => (answer += d));
  socket.on('error', () => {});
  socket.write(
    `POST /api/caption HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${length}\r\n\r\n`,
  );
  return {
    answer: () => answer,
    sendBody: (bytes: Buffer) => socket.write(bytes),
    close: () => socket.destroy(),
  };
}

describe('admission before the body is read (double captioner)', () => {
  test('reserved places count as taken until used or given back', async () => {
    const captioner = new DoubleCaptioner();
    const g = gate();
    captioner.gate = g.wait;
    const scheduler = new CaptionScheduler(captioner, { concurrency: 1, maxQueued: 1, batchSize: 2 });
    // Free: one batch of 2 and one waiting.
    const places = [scheduler.reserve(), scheduler.reserve(), scheduler.reserve()];
    assert.ok(places.every(Boolean));
    assert.equal(scheduler.reserve(), undefined);
    assert.equal(scheduler.full, true);
    places[2]!.release();
    places[2]!.release(); // once only
    assert.equal(scheduler.full, false);
    const jpeg = await makeJpeg();
    // A reserved place is never refused, even past the limits.
    const captions = [scheduler.caption(jpeg, {}, places[0]), scheduler.caption(jpeg, {}, places[1])];
    g.open();
    for (const { result } of await Promise.all(captions)) assert.match(result.caption, /photo/);
  });

  test('a queue that would take longer than maxQueueWaitMs at the measured rate is full', async () => {
    const captioner = new DoubleCaptioner();
    captioner.gate = () => new Promise((resolve) => setTimeout(resolve, 40)); // ~25 photos/s
    const scheduler = new CaptionScheduler(captioner, {
      concurrency: 1,
      maxQueued: 100,
      batchSize: 1,
      maxQueueWaitMs: 200,
    });
    const jpeg = await makeJpeg();
    const captions = Array.from({ length: 12 }, () => scheduler.caption(jpeg, {}));
    assert.equal(scheduler.full, false, 'no rate measured yet: the count alone decides');
    await captions[0];
    await new Promise((r) => setImmediate(r)); // the batch's bookkeeping after its answers
    // About 5 photos take 200 ms: with 10 waiting, the queue is full long before maxQueued.
    assert.equal(scheduler.full, true);
    await assert.rejects(scheduler.caption(jpeg, {}), { code: 'OVERLOADED' });
    await Promise.all(captions);
    assert.equal(scheduler.full, false);
  });

  test('a request waits at the door for a place, newest first, and is refused after the wait', async () => {
    const captioner = new DoubleCaptioner();
    const scheduler = new CaptionScheduler(captioner, { concurrency: 1, maxQueued: 0, batchSize: 1 });
    const admission = new Admission(scheduler, { maxReading: 4, admissionWaitMs: 200 });
    const first = await admission.enter();
    const older = admission.enter();
    const newer = admission.enter();
    assert.deepEqual(admission.stats, { reading: 1, atDoor: 2 });
    first.leave();
    const admitted = await newer;
    assert.deepEqual(admission.stats, { reading: 1, atDoor: 1 });
    const started = Date.now();
    await assert.rejects(older, { code: 'OVERLOADED' });
    assert.ok(Date.now() - started >= 150);
    // No wait at all refuses at once.
    const impatient = new Admission(scheduler, { maxReading: 4, admissionWaitMs: 0 });
    await assert.rejects(impatient.enter(), { code: 'OVERLOADED' });
    admitted.leave();
  });

  test('at most maxReading uploads are read at once; closing refuses those at the door', async () => {
    const captioner = new DoubleCaptioner();
    const scheduler = new CaptionScheduler(captioner, { concurrency: 2, maxQueued: 10, batchSize: 4 });
    const admission = new Admission(scheduler, { maxReading: 2, admissionWaitMs: 10_000 });
    const [a, b] = [await admission.enter(), await admission.enter()];
    const c = admission.enter();
    assert.deepEqual(admission.stats, { reading: 2, atDoor: 1 });
    a.doneReading();
    const admittedC = await c;
    assert.deepEqual(admission.stats, { reading: 2, atDoor: 0 });
    const d = admission.enter();
    admission.close();
    await assert.rejects(d, { code: 'SHUTTING_DOWN' });
    await assert.rejects(admission.enter(), { code: 'SHUTTING_DOWN' });
    for (const ticket of [a, b, admittedC]) ticket.leave();
    assert.deepEqual(admission.stats, { reading: 0, atDoor: 0 });
  });

  test('a full server answers 503 with Retry-After from the headers alone, and frees every place after', async () => {
    const captioner = new DoubleCaptioner();
    const g = gate();
    captioner.gate = g.wait;
    const app = buildServer({
      captioner,
      webRoot: null,
      limits: { concurrency: 1, maxQueued: 0, batchSize: 1, admissionWaitMs: 300 },
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const url = `http://127.0.0.1:${port}`;
    const health = async () =>
      (await (await fetch(`${url}/healthz`)).json()) as {
        queue: { running: number; waiting: number };
        admission: { reading: number; atDoor: number };
      };
    try {
      const jpeg = await makeJpeg();
      const post = () =>
        fetch(`${url}/api/caption`, {
          method: 'POST',
          headers: { 'content-type': 'image/jpeg' },
          body: jpeg,
        });
      const first = post();
      await until(() => captioner.calls === 1);
      // Only the headers of a 240 KB upload: refused without waiting for its body.
      const refused = rawRequest(port, 240_000);
      await until(() => refused.answer().includes('\r\n\r\n{'));
      assert.match(refused.answer(), /^HTTP\/1.1 503/);
      assert.match(refused.answer(), /retry-after: 1/i);
      assert.match(refused.answer(), /"code":"OVERLOADED"/);
      refused.close();
      // A client that goes away at the door, then is let in, gives its place back at once.
      const quitter = rawRequest(port, 240_000);
      await until(async () => (await health()).admission.atDoor === 1);
      quitter.close();
      await new Promise((r) => setTimeout(r, 50));
      g.open();
      assert.equal((await first).status, 200);
      // Every place came back: errors (a non-image) and successes alike.
      const bad = await fetch(`${url}/api/caption`, { method: 'POST', body: 'not a photo' });
      assert.equal(bad.status, 415);
      for (let i = 0; i < 3; i++) assert.equal((await post()).status, 200);
      const after = await health();
      assert.deepEqual(after.admission, { reading: 0, atDoor: 0 });
      assert.deepEqual(after.queue, { running: 0, waiting: 0 });
    } finally {
      g.open();
      await app.close();
    }
  });
});
