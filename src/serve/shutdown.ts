import type { FastifyInstance } from 'fastify';
import type { Captioner } from '../pipeline/captioner-types.js';

export interface ShutdownOptions {
  /** Past this, give up waiting for in-flight requests and exit with code 1. */
  timeoutMs?: number;
  log?: (line: string) => void;
  signals?: NodeJS.Signals[];
}

/**
 * On SIGINT or SIGTERM: stop accepting connections, let in-flight captions finish (new requests on
 * open connections get 503), then dispose the captioner. A second signal exits at once. Resolves when
 * the server is closed, so a command can await it and return.
 */
export function closeOnSignals(
  app: FastifyInstance,
  captioner: Captioner,
  options: ShutdownOptions = {},
): Promise<void> {
  const { timeoutMs = 15_000, log = () => {}, signals = ['SIGINT', 'SIGTERM'] } = options;
  return new Promise((resolve, reject) => {
    let closing = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (closing) {
        log(`${signal} again: exiting without waiting`);
        process.exit(130);
      }
      closing = true;
      log(`${signal}: finishing the captions in progress, then stopping`);
      const timer = setTimeout(() => {
        log(`still busy after ${timeoutMs / 1000} s: exiting`);
        process.exit(1);
      }, timeoutMs);
      timer.unref();
      app
        .close()
        .then(() => captioner.dispose())
        .then(() => {
          clearTimeout(timer);
          for (const s of signals) process.off(s, onSignal);
          log('stopped');
          resolve();
        }, reject);
    };
    for (const s of signals) process.on(s, onSignal);
  });
}
