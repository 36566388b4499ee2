import type { InferenceSession } from 'onnxruntime-node';

/**
 * Session options shared by the encoder and the decoder: full graph optimisation, one op at a time,
 * only errors logged, and idle threads that sleep unless `spinning` (spinning saves a wake-up per
 * parallel op but burns a core that a server's other work needs).
 */
export function onnxSessionOptions(threads: number, spinning = false): InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
  };
}
