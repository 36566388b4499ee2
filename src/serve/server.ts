import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import type { Captioner } from '../pipeline/captioner-types.js';
import { checkAttentionParam, parseCaptionParams } from './caption-params.js';
import { checkImage } from './check-image.js';
import { toHttpError } from './http-errors.js';
import { resolveLimits, type ServeLimits } from './limits.js';
import { readUpload } from './read-upload.js';
import { defaultWebRoot, registerWebPage, type WebPageOptions } from './web-page.js';
import { Admission, type Ticket } from './admission.js';
import { CaptionScheduler, shuttingDown } from './caption-scheduler.js';

export interface ServerOptions {
  captioner: Captioner;
  /** Overrides of the defaults and of the environment (CAPTIONER_MAX_UPLOAD_MB, …). */
  limits?: Partial<ServeLimits>;
  /** Folder of the built web page (default web/dist); null serves no page. */
  webRoot?: string | null;
  /** The model the page captions with on the device, served at /model/ (default: the bundled model); null: none. */
  bundle?: WebPageOptions['bundle'];
  /** Build that bundle as soon as the server listens (default: on its first request). */
  buildBundleAtStart?: boolean;
  /** Called with every error that became a 500 (a bug); default: its stack on stderr. */
  onInternalError?: (error: unknown, request: FastifyRequest) => void;
}

/**
 * The HTTP API and the web page around one captioner. The captioner stays the caller's: close the
 * server, then dispose it (see closeOnSignals).
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const { captioner } = options;
  const limits = resolveLimits(options.limits);
  const queue = new CaptionScheduler(captioner, limits);
  const admission = new Admission(queue, limits);
  const tickets = new WeakMap<FastifyRequest, Ticket>();
  const onInternalError =
    options.onInternalError ??
    ((error: unknown, request: FastifyRequest) =>
      process.stderr.write(
        `captioner: internal error on ${request.method} ${request.url}: ${(error as Error)?.stack ?? String(error)}\n`,
      ));

  const app = Fastify({
    logger: false,
    // A request holds its place in the queue while its body is read (at most maxReading at once): a
    // client that uploads too slowly is cut off.
    requestTimeout: 60_000,
    // Our own 503 while closing (below), in the API's error format.
    return503OnClosing: false,
  });

  app.setErrorHandler((error, request, reply) => {
    const { status, body } = toHttpError(error, limits.maxUploadBytes);
    if (status >= 500 && body.error.code === 'INTERNAL') onInternalError(error, request);
    if (status === 503) reply.header('retry-after', String(limits.retryAfterSeconds));
    return reply.code(status).type('application/json; charset=utf-8').send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `There is nothing at ${request.method} ${request.url.split('?')[0]}.`,
      },
    }),
  );

  // While closing, answers end their keep-alive connection, or an idle socket would hold the close
  // open for the whole keep-alive timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    admission.close();
  });
  app.addHook('onRequest', async () => {
    if (closing) throw shuttingDown();
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    if (closing) reply.header('connection', 'close');
    return payload;
  });

  const web = registerWebPage(app, options.webRoot === undefined ? defaultWebRoot() : options.webRoot, {
    bundle: options.bundle,
    buildBundleAtStart: options.buildBundleAtStart,
  });
  app.get('/healthz', async () => ({
    status: 'ok',
    queue: queue.stats,
    admission: admission.stats,
    bundle: web.bundleState(),
  }));
  app.get('/api/model', async () => captioner.card);
  app.get('/api/limits', async () => ({
    maxUploadBytes: limits.maxUploadBytes,
    maxPixels: limits.maxPixels,
    maxBeam: limits.maxBeam,
  }));

  // Its own scope: every body is read as bytes (except forms), whatever Content-Type it claims.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    await scope.register(multipart, {
      limits: { fileSize: limits.maxUploadBytes, files: 4, fields: 20, fieldSize: 1024, parts: 30 },
    });

    scope.post(
      '/api/caption',
      {
        bodyLimit: limits.maxUploadBytes,
        // From the headers alone, before the body is read: a place in the queue and an upload slot, or
        // a wait at the door and then 503.
        onRequest: async (request, reply) => {
          const ticket = await admission.enter();
          // Answered (whatever the outcome) or the client went away: give back what is still held.
          reply.raw.once('close', () => ticket.leave());
          if (request.raw.socket?.destroyed) ticket.leave(); // gone while at the door
          tickets.set(request, ticket);
        },
      },
      async (request) => {
        const ticket = tickets.get(request)!;
        const upload = await readUpload(request);
        ticket.doneReading();
        const captionOptions = parseCaptionParams(upload.params, limits.maxBeam);
        checkAttentionParam(captionOptions, captioner.card);
        await checkImage(upload.bytes, limits.maxPixels);
        // An attention model always gives the weights (a few rows copied per step), so that requests
        // with and without `attention` batch together; only those that asked get them.
        const { result, queueMs } = await queue.caption(
          upload.bytes,
          captioner.card.attention ? { ...captionOptions, attention: true } : captionOptions,
          ticket.place,
        );
        return {
          caption: result.caption,
          alternatives: result.alternatives,
          timings: { ...result.timings, queueMs },
          ...(captionOptions.attention
            ? { attention: result.attention, attentionGrid: result.attentionGrid }
            : {}),
        };
      },
    );
  });

  return app;
}
