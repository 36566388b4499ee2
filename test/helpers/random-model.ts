import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CLEANING } from '../../src/data/clean.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { getArchitecture } from '../../src/model/architectures.js';
import { saveModel } from '../../src/model/model-folder.js';
import { ParamLayout } from '../../src/model/params.js';
import { Rng } from '../../src/util/random.js';
import { loadEncoder } from '../../src/vision/encoder.js';

/**
 * A small untrained merge model on the real encoder's identity: what it writes is noise, but it goes
 * through every stage of the pipeline (decode, encode, beam search) as a trained model would.
 */
export async function makeRandomModel(options: { sha256?: string } = {}): Promise<string> {
  const encoder = await loadEncoder();
  const identity = { ...encoder.identity, ...(options.sha256 ? { sha256: options.sha256 } : {}) };
  await encoder.dispose();
  const words = ['a', 'dog', 'runs', 'on', 'the', 'grass', 'man', 'red', 'shirt', 'in', 'water', 's'];
  const vocabulary = Vocabulary.build([words], 1);
  const arch = getArchitecture('merge');
  const model = {
    ...arch.defaults(vocabulary.size, identity.pooledDim),
    embedDim: 8,
    units: 8,
    decoderUnits: 8,
  };
  const layout = new ParamLayout(arch.params(model));
  const params = new Float32Array(layout.total);
  arch.init(model, layout, params, new Rng(3));
  const dir = await mkdtemp(join(tmpdir(), 'captioner-model-'));
  await saveModel(dir, {
    model,
    encoder: identity,
    cleaning: DEFAULT_CLEANING,
    maxCaptionLength: 8,
    vocabulary,
    params,
  });
  return dir;
}
