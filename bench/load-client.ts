// The load generator of bench:serve, run in its own process so it does not share the server's CPU
// time slice: POSTs one photo over and over and prints autocannon's summary as one JSON line.
import autocannon from 'autocannon';
import { readFile } from 'node:fs/promises';

const [url, photo, connections, duration] = process.argv.slice(2);
const result = await autocannon({
  url,
  method: 'POST',
  headers: { 'content-type': 'image/jpeg' },
  body: await readFile(photo),
  connections: Number(connections),
  duration: Number(duration),
});
process.stdout.write(
  JSON.stringify({
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS: result.duration,
    latencyP50Ms: result.latency.p50,
    latencyP97_5Ms: result.latency.p97_5,
    latencyP99Ms: result.latency.p99,
  }) + '\n',
);
