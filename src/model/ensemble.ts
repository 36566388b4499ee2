import type { DecoderState, StepDecoder, StepResult } from './step-decoder.js';

interface EnsembleState extends DecoderState {
  readonly members: DecoderState[];
}

/**
 * Several decoders as one: each step averages the members' next-word probabilities (log of the mean
 * probability), the usual ensemble of caption models. Models trained from different seeds make
 * different mistakes, so the average is a better guess than any one of them; decoding sees one
 * StepDecoder and needs no change.
 */
export class EnsembleStepDecoder implements StepDecoder {
  readonly vocabSize: number;

  constructor(private readonly members: StepDecoder[]) {
    if (members.length === 0) throw new Error('an ensemble needs at least one member');
    this.vocabSize = members[0].vocabSize;
    if (members.some((m) => m.vocabSize !== this.vocabSize))
      throw new Error('ensemble members have different vocabularies');
  }

  async start(images: Float32Array[]): Promise<EnsembleState> {
    return { rows: images.length, members: await Promise.all(this.members.map((m) => m.start(images))) };
  }

  async step(state: DecoderState, tokens: Int32Array): Promise<StepResult> {
    const s = state as EnsembleState;
    const outs = await Promise.all(this.members.map((m, k) => m.step(s.members[k], tokens)));
    const k = outs.length;
    const logProbs = new Float32Array(outs[0].logProbs.length);
    const logK = Math.log(k);
    for (let i = 0; i < logProbs.length; i++) {
      let max = -Infinity;
      for (let m = 0; m < k; m++) max = Math.max(max, outs[m].logProbs[i]);
      if (max === -Infinity) {
        logProbs[i] = -Infinity;
        continue;
      }
      let sum = 0;
      for (let m = 0; m < k; m++) sum += Math.exp(outs[m].logProbs[i] - max);
      logProbs[i] = max + Math.log(sum) - logK;
    }
    const next: EnsembleState = { rows: s.rows, members: outs.map((o) => o.state) };
    return { logProbs, state: next };
  }

  select(state: DecoderState, rows: Int32Array): EnsembleState {
    const s = state as EnsembleState;
    return { rows: rows.length, members: this.members.map((m, k) => m.select(s.members[k], rows)) };
  }

  dispose(): void {
    for (const m of this.members) m.dispose();
  }
}
