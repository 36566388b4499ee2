// The pure part of preprocessing, shared by the Node encoder and the browser: 8-bit pixels of an
// image already squashed to the network's size → the normalised planar floats the network reads.

/** `(v / 255 − mean[c]) / std[c]` for every byte value v and channel c (3 × 256 floats): one lookup per value. */
export function normalizationTable(mean: readonly number[], std: readonly number[]): Float32Array {
  const lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - mean[c]) / std[c];
  return lut;
}

/**
 * Writes interleaved 8-bit pixels (`channels` values per pixel: 3 for RGB, 4 for RGBA, whose alpha is
 * ignored), `plane` pixels, normalised through `lut`, into slot `slot` of an NCHW float batch.
 */
export function fillPlanar(
  pixels: ArrayLike<number>,
  channels: number,
  plane: number,
  lut: Float32Array,
  batch: Float32Array,
  slot: number,
): void {
  const r = slot * 3 * plane;
  const g = r + plane;
  const b = g + plane;
  for (let i = 0, j = 0; i < plane; i++, j += channels) {
    batch[r + i] = lut[pixels[j]];
    batch[g + i] = lut[256 + pixels[j + 1]];
    batch[b + i] = lut[512 + pixels[j + 2]];
  }
}

/**
 * Mirrors interleaved 8-bit pixels left to right in place (`channels` values per pixel). The photo is
 * squashed before it is mirrored: the resampling filter is symmetric, so this is the mirror image's
 * own input to within a rounding.
 */
export function mirrorPixels(pixels: Uint8Array, width: number, height: number, channels: number): void {
  for (let y = 0; y < height; y++) {
    const row = y * width * channels;
    for (let l = 0, r = width - 1; l < r; l++, r--) {
      const a = row + l * channels;
      const b = row + r * channels;
      for (let c = 0; c < channels; c++) {
        const t = pixels[a + c];
        pixels[a + c] = pixels[b + c];
        pixels[b + c] = t;
      }
    }
  }
}
