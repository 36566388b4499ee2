import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { buildServer } from '../../src/serve/server.js';
import { CaptionScheduler } from '../../src/serve/caption-scheduler.js';
import { DoubleCaptioner } from '../helpers/double-captioner.js';
import { makeJpeg, truncate } from '../helpers/images.js';

/** A gate the test opens by hand: captions wait on it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { wait: () => opened, open };
}

/** Polls until `condition` holds, for at most `ms` (a readiness wait: generous on a loaded machine). */
async function until(condition: () => boolean | Promise<boolean>, ms = 2_500) {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline && !(await condition())) await new Promise((r) => setTimeout(r, 5));
  assert.ok(await condition(), 'condition never became true');
}

describe('caption scheduler (double captioner)', () => {
  test('runs at most `concurrency` batches and refuses past `maxQueued`', async () => {
    const captioner = new DoubleCaptioner();
    const g = gate();
    captioner.gate = g.wait;
    const scheduler = new CaptionScheduler(captioner, { concurrency: 2, maxQueued: 1, batchSize: 1 });
    const jpeg = await makeJpeg();
    const accepted = [1, 2, 3].map(() => scheduler.caption(jpeg, { beam: 3 }));
    assert.deepEqual(scheduler.stats, { running: 2, waiting: 1 });
    assert.equal(scheduler.full, true);
    await assert.rejects(scheduler.caption(jpeg, { beam: 3 }), { code: 'OVERLOADED' });
    g.open();
    for (const { result } of await Promise.all(accepted)) assert.match(result.caption, /photo/);
    assert.deepEqual(scheduler.stats, { running: 0, waiting: 0 });
    assert.deepEqual(captioner.batches, [], 'batchSize 1: caption() only');
  });

  test('requests that wait together go as one batch; a bad image fails alone; options are not mixed', async () => {
    const captioner = new DoubleCaptioner();
    const g = gate();
    captioner.gate = g.wait;
    const scheduler = new CaptionScheduler(captioner, { concurrency: 1, maxQueued: 10, batchSize: 3 });
    const jpeg = await makeJpeg();
    const first = scheduler.caption(jpeg, { beam: 3, alternatives: 2 });
    const same = [
      scheduler.caption(jpeg, { beam: 3, alternatives: 2 }),
      scheduler.caption(jpeg, { beam: 3, alternatives: 2 }),
    ];
    const bad = scheduler.caption(truncate(jpeg), { beam: 3, alternatives: 2 });
    const other = scheduler.caption(jpeg, { beam: 1, alternatives: 0 });
    bad.catch(() => {}); // awaited below
    g.open();
    await first;
    for (const { result } of await Promise.all(same)) assert.equal(result.alternatives.length, 3);
    await assert.rejects(bad, { code: 'IMAGE_CORRUPT' });
    assert.equal((await other).result.alternatives.length, 1);
    // first alone; then the two good ones and the bad one (same options, batch of 3); then beam 1 alone.
    assert.deepEqual(captioner.batches, [3]);
  });

  test('a failing caption frees its slot', async () => {
    const captioner = new DoubleCaptioner();
    captioner.failWith = new Error('boom');
    const scheduler = new CaptionScheduler(captioner, { concurrency: 1, maxQueued: 0, batchSize: 4 });
    const jpeg = await makeJpeg();
    await assert.rejects(scheduler.caption(jpeg, {}), /boom/);
    captioner.failWith = undefined;
    assert.match((await scheduler.caption(jpeg, {})).result.caption, /photo/);
  });
});

describe('overload and shutdown (double captioner)', () => {
  test('503 with Retry-After, quickly, when the queue is full; the queued work still finishes', async () => {
    const captioner = new DoubleCaptioner();
    const g = gate();
    captioner.gate = g.wait;
    const app = buildServer({
      captioner,
      webRoot: null,
      limits: { concurrency: 1, maxQueued: 1, admissionWaitMs: 0 },
    });
    const jpeg = await makeJpeg();
    const post = () =>
      app.inject({
        method: 'POST',
        url: '/api/caption',
        headers: { 'content-type': 'image/jpeg' },
        payload: jpeg,
      });
    const first = post();
    const second = post();
    await until(async () => (await app.inject({ url: '/healthz' })).json().queue.waiting === 1);
    const refused = await post();
    assert.equal(refused.statusCode, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.json().error.code, 'OVERLOADED');
    g.open();
    assert.equal((await first).statusCode, 200);
    assert.equal((await second).statusCode, 200);
    assert.equal((await post()).statusCode, 200, 'accepted again once the queue drained');
    await app.close();
  });

  test('close() lets an in-flight caption finish and refuses new connections', async () => {
    const captioner = new DoubleCaptioner();
    const g = gate();
    captioner.gate = g.wait;
    const app = buildServer({ captioner, webRoot: null });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const inFlight = fetch(`${url}/api/caption`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: await makeJpeg(),
    });
    await until(() => captioner.calls === 1);
    const closing = app.close();
    await assert.rejects(fetch(`${url}/healthz`, { headers: { connection: 'close' } }));
    g.open();
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.match(((await res.json()) as { caption: string }).caption, /photo/);
    await closing;
  });

  test('SIGTERM closes the server, disposes the captioner and the process exits by itself', async () => {
    const script = fileURLToPath(new URL('../helpers/serve-double.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      // A child process under tsx: its start-up can take seconds when the machine is busy.
      await until(() => /port=\d+/.test(stdout) || child.exitCode !== null, 60_000);
      const port = /port=(\d+)/.exec(stdout)?.[1];
      assert.ok(port, stderr);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      assert.match(stdout, /disposed=true/);
      assert.match(stderr, /SIGTERM: finishing/);
    } finally {
      // A failed assertion must not leave the child holding the test process open.
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
