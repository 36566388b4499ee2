/** A model's trainable tensors, in a fixed order, packed into one flat Float32Array. */
export interface ParamSpec {
  name: string;
  shape: number[];
  /** A lookup table (an embedding: rows are read alone, not multiplied): int8 storage scales its rows. */
  lookup?: boolean;
}

export class ParamLayout {
  readonly specs: readonly ParamSpec[];
  readonly offsets: readonly number[];
  readonly sizes: readonly number[];
  /** Total number of floats. */
  readonly total: number;
  private readonly index: Map<string, number>;

  constructor(specs: ParamSpec[]) {
    this.specs = specs;
    let offset = 0;
    const offsets: number[] = [];
    const sizes: number[] = [];
    for (const s of specs) {
      const size = s.shape.reduce((a, b) => a * b, 1);
      offsets.push(offset);
      sizes.push(size);
      offset += size;
    }
    this.offsets = offsets;
    this.sizes = sizes;
    this.total = offset;
    this.index = new Map(specs.map((s, i) => [s.name, i]));
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  /** The part of `flat` that holds `name` (a view, not a copy). */
  view(flat: Float32Array, name: string): Float32Array {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`no parameter ${name}`);
    return flat.subarray(this.offsets[i], this.offsets[i] + this.sizes[i]);
  }

  /** Every parameter of `flat` as a named tensor (views, not copies), names under `prefix`: for saving. */
  tensors(
    flat: Float32Array,
    prefix = '',
  ): { name: string; shape: number[]; data: Float32Array; lookup?: boolean }[] {
    return this.specs.map((s) => ({
      name: prefix + s.name,
      shape: s.shape,
      data: this.view(flat, s.name),
      lookup: s.lookup,
    }));
  }

  /** A new flat array filled from one array per parameter; `get` finds (and checks) each one. */
  assemble(get: (spec: ParamSpec, size: number) => Float32Array): Float32Array {
    const flat = new Float32Array(this.total);
    this.specs.forEach((s, i) => flat.set(get(s, this.sizes[i]), this.offsets[i]));
    return flat;
  }

  spec(name: string): ParamSpec {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`no parameter ${name}`);
    return this.specs[i];
  }
}
