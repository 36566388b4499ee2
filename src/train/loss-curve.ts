import type { EpochRecord } from './checkpoint.js';

/** A small self-contained SVG: train and dev loss per epoch. */
export function lossCurveSvg(history: readonly EpochRecord[]): string {
  const W = 640;
  const H = 400;
  const m = { left: 60, right: 20, top: 30, bottom: 50 };
  const values = history.flatMap((h) => [h.trainLoss, h.devLoss]).filter(Number.isFinite);
  const lo = values.length ? Math.min(...values) : 0;
  const hi = values.length ? Math.max(...values) : 1;
  const pad = (hi - lo) * 0.05 || 0.5;
  const [y0, y1] = [lo - pad, hi + pad];
  const maxEpoch = Math.max(1, ...history.map((h) => h.epoch));
  const x = (e: number) =>
    m.left +
    ((e - (history.length > 1 ? 1 : 0)) / Math.max(1, maxEpoch - (history.length > 1 ? 1 : 0))) *
      (W - m.left - m.right);
  const y = (v: number) => H - m.bottom - ((v - y0) / (y1 - y0)) * (H - m.top - m.bottom);
  const line = (key: 'trainLoss' | 'devLoss', color: string) => {
    const pts = history
      .filter((h) => Number.isFinite(h[key]))
      .map((h) => `${x(h.epoch).toFixed(1)},${y(h[key]).toFixed(1)}`);
    return [
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`,
      ...pts.map((p) => `<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="3" fill="${color}"/>`),
    ].join('\n');
  };
  const ticks: string[] = [];
  for (let i = 0; i <= 5; i++) {
    const v = y0 + ((y1 - y0) * i) / 5;
    ticks.push(
      `<line x1="${m.left}" x2="${W - m.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${m.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="12">${v.toFixed(2)}</text>`,
    );
  }
  for (const h of history)
    ticks.push(
      `<text x="${x(h.epoch).toFixed(1)}" y="${H - m.bottom + 18}" text-anchor="middle" font-size="12">${h.epoch}</text>`,
    );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">Loss per epoch (mean cross-entropy per word, nats)</text>
${ticks.join('\n')}
<text x="${W / 2}" y="${H - 12}" text-anchor="middle" font-size="12">epoch</text>
${line('trainLoss', '#1f77b4')}
${line('devLoss', '#d62728')}
<text x="${W - m.right - 90}" y="${m.top + 14}" font-size="12" fill="#1f77b4">train</text>
<text x="${W - m.right - 90}" y="${m.top + 30}" font-size="12" fill="#d62728">dev</text>
</svg>
`;
}
