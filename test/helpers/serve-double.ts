// A server around the TEST DOUBLE captioner, as `captioner serve` runs it: for the shutdown test.
import { buildServer } from '../../src/serve/server.js';
import { closeOnSignals } from '../../src/serve/shutdown.js';
import { DoubleCaptioner } from './double-captioner.js';

const captioner = new DoubleCaptioner();
const app = buildServer({ captioner, webRoot: null });
const closed = closeOnSignals(app, captioner, { log: (line) => process.stderr.write(`${line}\n`) });
await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`port=${(app.server.address() as { port: number }).port}\n`);
await closed;
process.stdout.write(`disposed=${captioner.disposed}\n`);
