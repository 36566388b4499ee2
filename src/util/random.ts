/**
 * Small seeded generators: training must be reproducible from `--seed` alone, across processes and
 * threads, so nothing here touches Math.random.
 */

/** A 32-bit hash of a few integers (seed, epoch, step, row…): independent streams without shared state. */
export function hashInts(...values: number[]): number {
  let h = 0x811c9dc5;
  for (const v of values) {
    h = Math.imul(h ^ (v >>> 0), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
  }
  return h >>> 0;
}

/** mulberry32: fast, 32-bit state, good enough for initialisation, shuffling and dropout masks. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /**
   * Dropout mask: out[offset + k] = value where next() < keep, for k < count, drawing exactly what
   * `count` calls of next() would. Inlined for speed: masks are drawn for every training step.
   */
  mask(out: Float32Array, offset: number, count: number, keep: number, value: number): void {
    let state = this.state;
    for (let k = 0; k < count; k++) {
      let t = (state = (state + 0x6d2b79f5) >>> 0);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      if (((t ^ (t >>> 14)) >>> 0) / 4294967296 < keep) out[offset + k] = value;
    }
    this.state = state;
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}
