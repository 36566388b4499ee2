/** What a feature vector depends on: the network and the exact preprocessing that fed it. */
export interface EncoderIdentity {
  name: string;
  /** sha256 of the original model file (before the in-memory graph edit). */
  sha256: string;
  /** [height, width] of the network input. */
  inputSize: [number, number];
  mean: [number, number, number];
  std: [number, number, number];
  resize: 'squash';
  pooledDim: number;
}

/** Why two identities give different features, or undefined when they are interchangeable. */
export function identityDifference(stored: EncoderIdentity, current: EncoderIdentity): string | undefined {
  if (stored.sha256 !== current.sha256)
    return `encoder ${stored.name} (sha256 ${stored.sha256.slice(0, 12)}…) vs ${current.name} (${current.sha256.slice(0, 12)}…)`;
  const fields = ['inputSize', 'mean', 'std', 'resize', 'pooledDim'] as const;
  for (const f of fields) {
    if (JSON.stringify(stored[f]) !== JSON.stringify(current[f]))
      return `${f} ${JSON.stringify(stored[f])} vs ${JSON.stringify(current[f])}`;
  }
  return undefined;
}
