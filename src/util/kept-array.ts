/**
 * Big typed arrays kept from one use to the next (a photo's decoded pixels, the encoder's input). A
 * new array of a few hundred kilobytes is fresh memory: each 4 KB of it takes a page fault the first
 * time it is written, ~1 ms per 200 KB in Chromium on the project's machine (a 1-MP photo's decoded
 * frame copied out in 4–8 ms into a new array, 0.4–0.6 ms into a kept one), and the allocator hands
 * out fresh memory again for the next photo.
 *
 * `take` lends a kept array (a view of its first `length` elements, holding stale values), or makes
 * a new one when none is free and big enough, so callers running at the same time never share one;
 * `give` hands back an array that `take` lent, once nothing reads it any more. At most `keep` arrays
 * are kept, the biggest.
 */
export class KeptArray<T extends Uint8ClampedArray | Float32Array> {
  private readonly kept: ArrayBuffer[] = [];

  constructor(
    private readonly View: {
      new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
      readonly BYTES_PER_ELEMENT: number;
    },
    private readonly keep = 1,
  ) {}

  take(length: number): T {
    const bytes = length * this.View.BYTES_PER_ELEMENT;
    const i = this.kept.findIndex((buffer) => buffer.byteLength >= bytes);
    const buffer = i >= 0 ? this.kept.splice(i, 1)[0] : new ArrayBuffer(bytes);
    return new this.View(buffer, 0, length);
  }

  give(array: { readonly buffer: ArrayBufferLike }): void {
    const { buffer } = array;
    if (!(buffer instanceof ArrayBuffer) || this.kept.includes(buffer)) return;
    this.kept.push(buffer);
    this.kept.sort((a, b) => b.byteLength - a.byteLength);
    this.kept.length = Math.min(this.kept.length, this.keep);
  }
}
