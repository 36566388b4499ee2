import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors } from '../model/safetensors.js';
import type { ParamLayout } from '../model/params.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { CaptionerError, errnoCode } from '../util/errors.js';
import type { AdamState } from './adam.js';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

/** Everything besides tensors that a resumed run needs to continue exactly. */
export interface TrainerState {
  /** Epochs completed. */
  epoch: number;
  learningRate: number;
  bestEpoch: number;
  bestScore: number;
  badEpochs: number;
  stopped: boolean;
  history: EpochRecord[];
  /** The options the run started with, to check that a resume matches. */
  options: Record<string, unknown>;
  model: Record<string, unknown>;
}

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  devLoss: number;
  devMetric?: { name: string; value: number };
  learningRate: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  time: string;
  /** Self-critical training: the mean reward (CIDEr-D ×100) of the epoch's sampled captions. */
  trainReward?: number;
}

/** One file, written atomically: weights, Adam moments, and the trainer state in the metadata. */
export async function saveCheckpoint(
  dir: string,
  layout: ParamLayout,
  params: Float32Array,
  adam: AdamState,
  state: TrainerState,
): Promise<void> {
  const tensors = [
    ...layout.tensors(params),
    ...layout.tensors(adam.m, 'adam.m/'),
    ...layout.tensors(adam.v, 'adam.v/'),
  ];
  const metadata = {
    'captioner.trainer': JSON.stringify(state),
    'captioner.adam': JSON.stringify({
      iterations: adam.iterations,
      accBeta1: adam.accBeta1,
      accBeta2: adam.accBeta2,
    }),
  };
  await writeFileAtomic(join(dir, CHECKPOINT_FILE), encodeSafetensors(tensors, { metadata }));
}

export interface LoadedCheckpoint {
  params: Float32Array;
  adam: AdamState;
  state: TrainerState;
}

export async function loadCheckpoint(
  dir: string,
  layout: ParamLayout,
): Promise<LoadedCheckpoint | undefined> {
  const path = join(dir, CHECKPOINT_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  const file = decodeSafetensors(bytes, path);
  const fail = (why: string): never => {
    throw new CaptionerError('CHECKPOINT_INVALID', `${path}: ${why}`);
  };
  const take = (prefix: string) =>
    layout.assemble((s, size) => {
      const t = file.tensors.get(prefix + s.name);
      if (!t || t.data.length !== size) return fail(`missing or misshapen ${prefix}${s.name}`);
      return t.data;
    });
  const trainer = file.metadata['captioner.trainer'];
  const adamMeta = file.metadata['captioner.adam'];
  if (!trainer || !adamMeta) fail('no trainer state in the metadata');
  const adam = JSON.parse(adamMeta) as Omit<AdamState, 'm' | 'v'>;
  return {
    params: take(''),
    adam: { ...adam, m: take('adam.m/'), v: take('adam.v/') },
    state: JSON.parse(trainer) as TrainerState,
  };
}
