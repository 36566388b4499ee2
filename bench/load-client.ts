// The load generator of bench:serve, run in its own process so it does not share the server's CPU
// time slice: POSTs one photo over and over and prints autocannon's summary as one JSON line, with the
// latency of the accepted (200) answers apart: under overload most answers are fast 503s.
import autocannon from 'autocannon';
import { readFile } from 'node:fs/promises';

const [url, photo, connections, duration] = process.argv.slice(2);
const acceptedMs: number[] = [];
let refused = 0;
const body = await readFile(photo);
const result = await new Promise<autocannon.Result>((resolve, reject) => {
  const instance = autocannon(
    {
      url,
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body,
      connections: Number(connections),
      duration: Number(duration),
    },
    (error, result) => (error ? reject(error) : resolve(result)),
  );
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status === 200) acceptedMs.push(ms);
    else if (status === 503) refused++;
  });
});
acceptedMs.sort((a, b) => a - b);
const acceptedPercentile = (p: number) =>
  acceptedMs.length === 0
    ? 0
    : Math.round(acceptedMs[Math.min(acceptedMs.length - 1, Math.ceil(p * acceptedMs.length) - 1)]);
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
    refused503: refused,
    acceptedP50Ms: acceptedPercentile(0.5),
    acceptedP99Ms: acceptedPercentile(0.99),
    // The load generator's own CPU time: under overload it competes with the server for the cores.
    clientCpuS: +((process.cpuUsage().user + process.cpuUsage().system) / 1e6).toFixed(1),
  }) + '\n',
);
