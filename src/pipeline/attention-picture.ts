import sharp, { type OverlayOptions } from 'sharp';
import type { ImageInput, WordAttention } from './captioner-types.js';
import { heatColour, heatPeak } from './heat-colormap.js';

/**
 * The attention heatmap picture of one caption (`captioner caption --attention <dir>`): the caption on
 * top, then panels of the photo: the photo itself, then one panel per word with where the model looked
 * for it (the word's weights over the encoder's grid, upsampled smoothly to the panel and shown in a
 * perceptual colormap blended over the photo), the word under its panel. Panels wrap after `columns`.
 */
export interface AttentionPictureOptions {
  /** Height of a panel in pixels. Default 224. */
  panelHeight?: number;
  /** Panels per row before wrapping. Default 6. */
  columns?: number;
  /** How much of the colormap covers the photo, 0..1. Default 0.5. */
  opacity?: number;
}

/** Where the panels of a picture go. */
export interface AttentionLayout {
  width: number;
  height: number;
  panelWidth: number;
  panelHeight: number;
  columns: number;
  rows: number;
  /** Top left corner of each panel (the photo first, then one per word). */
  panels: { left: number; top: number }[];
  /** Baseline of the caption on top. */
  titleBaseline: number;
}

const MARGIN = 16;
const GAP = 12;
const TITLE = 40;
const LABEL = 30;
const FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';

/** Panel width for a photo of this aspect ratio (very wide or tall photos are squashed a little). */
export function panelWidthFor(photoWidth: number, photoHeight: number, panelHeight: number): number {
  const aspect = photoWidth > 0 && photoHeight > 0 ? photoWidth / photoHeight : 1;
  return Math.round(panelHeight * Math.min(2.5, Math.max(0.5, aspect)));
}

/** The picture's size and panel positions for `panels` panels (photo + words) of one size. */
export function attentionLayout(
  panels: number,
  panelWidth: number,
  panelHeight: number,
  columns = 6,
): AttentionLayout {
  const cols = Math.max(1, Math.min(columns, panels));
  const rows = Math.max(1, Math.ceil(panels / cols));
  const cellHeight = panelHeight + LABEL;
  return {
    width: 2 * MARGIN + cols * panelWidth + (cols - 1) * GAP,
    height: 2 * MARGIN + TITLE + rows * cellHeight + (rows - 1) * GAP,
    panelWidth,
    panelHeight,
    columns: cols,
    rows,
    panels: Array.from({ length: panels }, (_, i) => ({
      left: MARGIN + (i % cols) * (panelWidth + GAP),
      top: MARGIN + TITLE + Math.floor(i / cols) * (cellHeight + GAP),
    })),
    titleBaseline: MARGIN + 24,
  };
}

/** The picture as PNG bytes. `grid` is [rows, columns] of the weights (e.g. [7, 7]). */
export async function attentionPicture(
  photo: ImageInput,
  caption: string,
  words: readonly WordAttention[],
  grid: readonly [number, number],
  options: AttentionPictureOptions = {},
): Promise<Buffer> {
  const panelHeight = options.panelHeight ?? 224;
  const opacity = options.opacity ?? 0.5;
  const source = sharp(typeof photo === 'string' ? photo : Buffer.from(photo), {
    failOn: 'none',
    pages: 1,
  }).rotate();
  const meta = await source.clone().metadata();
  // After rotate(), EXIF orientations 5-8 swap width and height.
  const turned = (meta.orientation ?? 1) >= 5;
  const [w0, h0] = turned ? [meta.height ?? 0, meta.width ?? 0] : [meta.width ?? 0, meta.height ?? 0];
  const panelWidth = panelWidthFor(w0, h0, panelHeight);
  // The encoder squashes the photo to its square input, so the grid covers the whole photo whatever
  // its shape: squash the panel the same way (only beyond 1:2.5 does the panel's shape differ).
  const { data: pixels } = await source
    .resize(panelWidth, panelHeight, { fit: 'fill' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });

  const layout = attentionLayout(1 + words.length, panelWidth, panelHeight, options.columns);
  const raw = { width: panelWidth, height: panelHeight, channels: 3 as const };
  const composites: OverlayOptions[] = [
    { input: pixels, raw, ...layout.panels[0] },
    ...words.map((w, i) => ({
      input: blendHeat(pixels, upsample(w.weights, grid, panelWidth, panelHeight), opacity),
      raw,
      ...layout.panels[i + 1],
    })),
    { input: Buffer.from(labelsSvg(layout, caption, words)), left: 0, top: 0 },
  ];
  const { data, info } = await sharp({
    create: {
      width: layout.width,
      height: layout.height,
      channels: 3,
      background: { r: 255, g: 255, b: 255 },
    },
  })
    .composite(composites)
    .raw()
    .toBuffer({ resolveWithObject: true });
  // Composited text brings an alpha channel; the picture is opaque.
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .removeAlpha()
    .png({ compressionLevel: 9 })
    .toBuffer();
}

/**
 * A grid of weights upsampled to width × height by bicubic (Catmull-Rom) interpolation, cells centred
 * on their pixels, scaled so the largest weight is 1 (but no further than 2 × uniform, so that weights
 * spread evenly stay mid-way rather than all at full heat); clamped to 0..1.
 */
export function upsample(
  weights: readonly number[],
  grid: readonly [number, number],
  width: number,
  height: number,
): Float32Array {
  const [gh, gw] = grid;
  if (weights.length !== gh * gw) throw new Error(`${weights.length} weights for a ${gh}×${gw} grid`);
  const peak = heatPeak(weights);
  // Columns first: gh rows of `width` values, then rows.
  const wide = new Float32Array(gh * width);
  const across = cubicTaps(gw, width);
  for (let r = 0; r < gh; r++)
    for (let x = 0; x < width; x++) {
      const { index, weight } = across[x];
      let v = 0;
      for (let k = 0; k < 4; k++) v += weight[k] * weights[r * gw + index[k]];
      wide[r * width + x] = v;
    }
  const out = new Float32Array(width * height);
  const down = cubicTaps(gh, height);
  for (let y = 0; y < height; y++) {
    const { index, weight } = down[y];
    for (let x = 0; x < width; x++) {
      let v = 0;
      for (let k = 0; k < 4; k++) v += weight[k] * wide[index[k] * width + x];
      out[y * width + x] = Math.min(1, Math.max(0, v / peak));
    }
  }
  return out;
}

/** For each of `size` output pixels, the 4 source cells (clamped at the edges) and their Catmull-Rom weights. */
function cubicTaps(cells: number, size: number): { index: number[]; weight: number[] }[] {
  return Array.from({ length: size }, (_, x) => {
    const at = ((x + 0.5) * cells) / size - 0.5;
    const base = Math.floor(at);
    const t = at - base;
    const weight = [
      ((-t + 2) * t - 1) * t * 0.5,
      ((3 * t - 5) * t * t + 2) * 0.5,
      ((-3 * t + 4) * t + 1) * t * 0.5,
      (t - 1) * t * t * 0.5,
    ];
    const index = [-1, 0, 1, 2].map((d) => Math.min(cells - 1, Math.max(0, base + d)));
    return { index, weight };
  });
}

/** The photo's RGB pixels with the heat's colours blended over them. */
function blendHeat(pixels: Buffer, heat: Float32Array, opacity: number): Buffer {
  const out = Buffer.alloc(pixels.length);
  for (let i = 0; i < heat.length; i++) {
    const c = heatColour(heat[i]);
    for (let ch = 0; ch < 3; ch++)
      out[i * 3 + ch] = Math.round((1 - opacity) * pixels[i * 3 + ch] + opacity * c[ch]);
  }
  return out;
}

/** The caption on top and each panel's word under it, as SVG text over the whole picture. */
function labelsSvg(layout: AttentionLayout, caption: string, words: readonly WordAttention[]): string {
  const { width, height, panelWidth, panelHeight } = layout;
  const text = (x: number, y: number, size: number, body: string, extra = '') =>
    `<text x="${x}" y="${y}" font-size="${size}" ${extra}>${escapeXml(body)}</text>`;
  // Shrink a label whose estimated width (0.6 em a character) would overflow its room.
  const fit = (body: string, room: number, size: number) =>
    Math.max(9, Math.min(size, Math.floor(room / (0.6 * Math.max(1, body.length)))));
  const title = `“${caption}”`;
  const parts = [
    text(MARGIN, layout.titleBaseline, fit(title, width - 2 * MARGIN, 20), title, 'font-weight="bold"'),
  ];
  const labels = ['photo', ...words.map((w) => w.word)];
  labels.forEach((label, i) => {
    const { left, top } = layout.panels[i];
    const size = fit(label, panelWidth - 8, 18);
    const extra = i === 0 ? 'text-anchor="middle" fill="#666" font-style="italic"' : 'text-anchor="middle"';
    parts.push(text(left + panelWidth / 2, top + panelHeight + 21, size, label, extra));
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<g font-family="${FONT}" fill="#1a1a1a">${parts.join('')}</g></svg>`
  );
}

function escapeXml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}
