import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Int8Weights } from '../model/decode-graphs.js';
import type { LoadedModel } from '../model/model-folder.js';
import { decodeSafetensors } from '../model/safetensors.js';
import { CaptionerError } from '../util/errors.js';

/**
 * The int8 matrices of a Q8 model folder as stored (int8 values and their float scales), by parameter
 * name; undefined for F32/F16 weights. `loadModel` hands back the product int8 · scale; the export
 * keeps the factors, so the bundle's graphs stay a quarter of the float size. Each matrix is checked
 * against the loaded weights: the graph then computes exactly the numbers the captioner uses.
 */
export async function readInt8Weights(model: LoadedModel): Promise<Map<string, Int8Weights> | undefined> {
  if (model.config.weights?.dtype !== 'Q8') return undefined;
  const file = join(model.dir, model.config.weights.file);
  const { tensors } = decodeSafetensors(await readFile(file), file);
  const out = new Map<string, Int8Weights>();
  for (const [name, t] of tensors) {
    if (!t.int8 || !model.layout.has(name)) continue;
    const loaded = model.layout.view(model.params, name);
    if (t.data.some((v, i) => v !== loaded[i]))
      throw new CaptionerError(
        'MODEL_WEIGHTS',
        `${file}: ${name}: int8 · scale differs from the loaded weights`,
      );
    out.set(name, t.int8);
  }
  return out;
}
