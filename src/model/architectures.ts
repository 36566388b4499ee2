import { CaptionerError } from '../util/errors.js';
import type { Architecture, ModelConfigBase } from './architecture.js';
import { attentionArchitecture } from './arch/attention.js';
import { mergeArchitecture } from './arch/merge.js';

/** Every decoder design by name; a new one is registered here and nowhere else. */
const ARCHITECTURES: Record<string, Architecture> = {
  merge: mergeArchitecture as unknown as Architecture,
  attention: attentionArchitecture as unknown as Architecture,
};

export function architectureNames(): string[] {
  return Object.keys(ARCHITECTURES);
}

export function getArchitecture(name: string): Architecture<ModelConfigBase> {
  const arch = ARCHITECTURES[name];
  if (!arch)
    throw new CaptionerError(
      'MODEL_ARCH',
      `unknown architecture "${name}" (known: ${architectureNames().join(', ')})`,
    );
  return arch;
}
