import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Int8Weights } from '../model/decode-graphs.js';
import type { LoadedModel } from '../model/model-folder.js';
import { CaptionerError } from '../util/errors.js';

const SCALE_SUFFIX = '.q8_scale';

/**
 * The int8 matrices of a Q8 model folder as stored (int8 values and one float scale per row), by
 * parameter name; undefined for F32/F16 weights. `loadModel` hands back the product int8 · scale; the
 * export keeps the factors, so the bundle's graphs stay a quarter of the float size. Each matrix is
 * checked against the loaded weights: the graph then computes exactly the numbers the captioner uses.
 */
export async function readInt8Weights(model: LoadedModel): Promise<Map<string, Int8Weights> | undefined> {
  if (model.config.weights?.dtype !== 'Q8') return undefined;
  const file = join(model.dir, model.config.weights.file);
  const bytes = await readFile(file);
  const fail = (why: string): never => {
    throw new CaptionerError('MODEL_WEIGHTS', `${file}: ${why}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const start = 8 + headerLength;
  const raw = (name: string) => {
    const [begin, end] = header[name].data_offsets;
    return bytes.subarray(start + begin, start + end);
  };
  const out = new Map<string, Int8Weights>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__' || entry.dtype !== 'I8') continue;
    const scaleEntry = header[name + SCALE_SUFFIX];
    if (!scaleEntry || entry.shape.length !== 2 || scaleEntry.shape[0] !== entry.shape[0])
      fail(`${name} is int8 without one ${SCALE_SUFFIX} per row`);
    const q = raw(name);
    const s = raw(name + SCALE_SUFFIX);
    // Copies: aligned, and independent of the file buffer.
    const values = new Int8Array(q.length);
    values.set(new Int8Array(q.buffer, q.byteOffset, q.length));
    const scales = new Float32Array(entry.shape[0]);
    new Uint8Array(scales.buffer).set(s);
    const loaded = model.layout.view(model.params, name);
    const cols = entry.shape[1];
    for (let i = 0; i < values.length; i++)
      if (Math.fround(values[i] * scales[Math.floor(i / cols)]) !== loaded[i])
        fail(`${name}: int8 · scale differs from the loaded weights at ${i}`);
    out.set(name, { values, scales });
  }
  return out;
}
