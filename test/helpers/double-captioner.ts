import sharp from 'sharp';
import { readFile } from 'node:fs/promises';
import type {
  Captioner,
  CaptionOptions,
  CaptionResult,
  ImageInput,
  ModelCard,
} from '../../src/pipeline/captioner-types.js';
import { CaptionerError } from '../../src/util/errors.js';

/**
 * A TEST DOUBLE of the Captioner: no model. It checks images for real (sharp sniffs and decodes them,
 * with the vision stage's error codes) and answers a deterministic caption made from the image's size
 * and mean colour. Hooks let tests hold captions back (queue tests) or fail like a bug would.
 */
export class DoubleCaptioner implements Captioner {
  readonly card: ModelCard = {
    name: 'double (test double, no model)',
    architecture: 'none',
    encoder: { name: 'none', sha256: '0'.repeat(64) },
    vocabSize: 0,
    lengthPenalty: 0,
    metrics: { test: { bleu4: 0 } },
  };
  calls = 0;
  /** The size of each captionMany call. */
  batches: number[] = [];
  disposed = false;
  /** Awaited before each caption, e.g. a promise a test resolves to let queued work go on. */
  gate?: () => Promise<void>;
  /** Thrown from caption() after decoding, e.g. a plain Error to stand for a bug. */
  failWith?: Error;

  async caption(input: ImageInput, options: CaptionOptions = {}): Promise<CaptionResult> {
    const started = performance.now();
    this.calls++;
    if (this.gate) await this.gate();
    const bytes = typeof input === 'string' ? await readFile(input) : Buffer.from(input);
    const { width, height, mean } = await decode(bytes);
    if (this.failWith) throw this.failWith;
    const beam = options.beam ?? 3;
    const count = Math.min(beam, (options.alternatives ?? beam - 1) + 1);
    const colour = mean[0] > mean[2] ? 'warm' : 'cool';
    const texts = [
      `a ${colour} photo of ${width} by ${height} pixels`,
      `a ${colour} picture`,
      `an image`,
      `a photo`,
      `something`,
    ];
    const alternatives = Array.from({ length: count }, (_, i) => ({
      text: texts[i % texts.length],
      score: -0.1 * (i + 1),
    }));
    const totalMs = performance.now() - started;
    return {
      caption: alternatives[0].text,
      alternatives,
      timings: { decodeMs: totalMs, encodeMs: 0, generateMs: 0, totalMs },
    };
  }

  async captionMany(inputs: ImageInput[], options?: CaptionOptions) {
    this.batches.push(inputs.length);
    const results: (CaptionResult | { error: Error })[] = [];
    for (const input of inputs) {
      try {
        results.push(await this.caption(input, options));
      } catch (error) {
        results.push({ error: error as Error });
      }
    }
    return results;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

async function decode(bytes: Buffer): Promise<{ width: number; height: number; mean: number[] }> {
  try {
    const { data, info } = await sharp(bytes, { failOn: 'warning' })
      .resize(32, 32, { fit: 'fill' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const meta = await sharp(bytes).metadata();
    const mean = [0, 1, 2].map((c) => {
      let sum = 0;
      for (let i = c; i < data.length; i += info.channels) sum += data[i];
      return sum / (data.length / info.channels);
    });
    return { width: meta.width ?? 0, height: meta.height ?? 0, mean };
  } catch (error) {
    const message = (error as Error).message;
    if (/unsupported image format|empty/i.test(message)) {
      throw new CaptionerError('IMAGE_UNSUPPORTED', 'image: not an image in a supported format');
    }
    throw new CaptionerError('IMAGE_CORRUPT', `image: corrupt or truncated (${message.split('\n')[0]})`, {
      cause: error,
    });
  }
}
