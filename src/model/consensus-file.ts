import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONSENSUS_FILE, ConsensusIndex } from '../decode/consensus.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { CaptionerError } from '../util/errors.js';

/**
 * A model folder's consensus index (`captioner consensus` writes it), or undefined when it has none.
 * Refused when it was built on another encoder than the model's: its neighbours would mean nothing.
 */
export async function readConsensusIndex(
  modelDir: string,
  encoderSha256: string | undefined,
): Promise<ConsensusIndex | undefined> {
  const path = join(modelDir, CONSENSUS_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CaptionerError('MODEL_INVALID', `cannot read ${path}: ${(error as Error).message}`);
  }
  const index = ConsensusIndex.parse(bytes, path);
  if (encoderSha256 && index.encoder.sha256 !== encoderSha256)
    throw new CaptionerError(
      'ENCODER_MISMATCH',
      `${path} indexes ${index.encoder.name} features (sha256 ${index.encoder.sha256.slice(0, 12)}…), not the model's encoder: run captioner consensus again`,
    );
  return index;
}

/**
 * Writes the index into a model folder, atomically (a reader sees the old file or the new one): where,
 * and how many bytes.
 */
export async function writeConsensusIndex(
  modelDir: string,
  index: ConsensusIndex,
): Promise<{ path: string; bytes: number }> {
  const path = join(modelDir, CONSENSUS_FILE);
  const bytes = index.serialize();
  await writeFileAtomic(path, bytes);
  return { path, bytes: bytes.length };
}
