import { captionProblems, DEFAULT_MAX_LENGTH, type CaptionProblems } from '../decode/caption-rules.js';
import { corpusCiderD } from './cider.js';
import { cocoTokenize } from './ptb-tokenizer.js';
import type { CaptionScores } from './score.js';

/** Everything the evaluation report shows; thumbnails are data URIs (see report-thumbnails.ts). */
export interface ReportInput {
  model: string;
  split: string;
  /** How the captions were decoded, in words ("beam 3, length penalty 0.7, …"). */
  decodingText?: string;
  /** The caption length limit the captions were checked against. Default 20. */
  decoding?: { maxLength: number };
  scores: CaptionScores;
  /** One caption per image, in split order. */
  captions: readonly { image: string; caption: string }[];
  references: ReadonlyMap<string, readonly string[]>;
  failed?: readonly { image: string; reason: string }[];
  thumbnails?: ReadonlyMap<string, string>;
  /** When the report was made (default now). */
  generatedAt?: Date;
}

export interface ReportRow {
  /** Position in the split, from 1. */
  index: number;
  image: string;
  caption: string;
  references: readonly string[];
  /** This image's CIDEr-D ×100: the mean over the rows is the split's CIDEr-D. */
  ciderD: number;
  words: number;
  problems: CaptionProblems;
}

export interface RepeatedCaption {
  caption: string;
  images: string[];
}

export interface VocabularyUse {
  /** Distinct words of the captions, as coco-caption tokenizes them. */
  captionWords: number;
  /** Distinct words of all the split's references. */
  referenceWords: number;
  /** Caption words that some reference uses too. */
  shared: number;
  meanCaptionLength: number;
  meanReferenceLength: number;
  /** The references' most frequent words that no caption uses, with their counts. */
  neverUsed: [string, number][];
  /** The captions' most frequent words, with their counts in the captions and in the references. */
  mostUsed: [string, number, number][];
}

export interface ReportData {
  rows: ReportRow[];
  best: ReportRow[];
  worst: ReportRow[];
  /** Captions given to more than one photo, most photos first (at most `REPEATED_SHOWN`). */
  repeated: RepeatedCaption[];
  /** How many distinct captions are given to more than one photo, and to how many photos in all. */
  repeatedTotals: { captions: number; photos: number };
  vocabulary: VocabularyUse;
  checks: { repeatedTrigram: number; danglingEnd: number; tooLong: number; maxLength: number };
}

export const EXTREMES_SHOWN = 20;
export const REPEATED_SHOWN = 20;
const STRIP_THUMBNAILS = 8;

/** The report's numbers: per-image CIDEr-D, best and worst, repeated captions, vocabulary, rule checks. */
export function buildReportData(input: ReportInput): ReportData {
  const maxLength = input.decoding?.maxLength ?? DEFAULT_MAX_LENGTH;
  const tokenized = input.captions.map((c) => cocoTokenize(c.caption));
  const refs = input.captions.map((c) => {
    const r = input.references.get(c.image);
    if (!r || r.length === 0) throw new Error(`report: no references for ${c.image}`);
    return r;
  });
  const refTokens = refs.map((r) => r.map(cocoTokenize));
  // The same call as the corpus score: same images, same document frequencies, so the mean matches.
  const { perImage } = corpusCiderD(tokenized, refTokens);
  const rows: ReportRow[] = input.captions.map((c, i) => ({
    index: i + 1,
    image: c.image,
    caption: c.caption,
    references: refs[i],
    ciderD: perImage[i] * 100,
    words: c.caption.split(/\s+/).filter((w) => w.length > 0).length,
    problems: captionProblems(c.caption, maxLength),
  }));

  const byScore = [...rows].sort((a, b) => b.ciderD - a.ciderD || a.index - b.index);
  const best = byScore.slice(0, EXTREMES_SHOWN);
  const worst = byScore.slice(-EXTREMES_SHOWN).reverse();

  const groups = new Map<string, RepeatedCaption>();
  rows.forEach((row, i) => {
    const key = tokenized[i].join(' ');
    const group = groups.get(key);
    if (group) group.images.push(row.image);
    else groups.set(key, { caption: row.caption, images: [row.image] });
  });
  const repeatedAll = [...groups.values()]
    .filter((g) => g.images.length > 1)
    .sort((a, b) => b.images.length - a.images.length || (a.caption < b.caption ? -1 : 1));

  const count = (lists: string[][]) => {
    const counts = new Map<string, number>();
    for (const words of lists) for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
    return counts;
  };
  const captionCounts = count(tokenized);
  const allRefTokens = refTokens.flat();
  const referenceCounts = count(allRefTokens);
  const shared = [...captionCounts.keys()].filter((w) => referenceCounts.has(w)).length;
  const mean = (lists: string[][]) =>
    lists.length === 0 ? 0 : lists.reduce((sum, l) => sum + l.length, 0) / lists.length;
  const frequent = (counts: Map<string, number>) =>
    [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));

  return {
    rows,
    best,
    worst,
    repeated: repeatedAll.slice(0, REPEATED_SHOWN),
    repeatedTotals: {
      captions: repeatedAll.length,
      photos: repeatedAll.reduce((sum, g) => sum + g.images.length, 0),
    },
    vocabulary: {
      captionWords: captionCounts.size,
      referenceWords: referenceCounts.size,
      shared,
      meanCaptionLength: mean(tokenized),
      meanReferenceLength: mean(allRefTokens),
      neverUsed: frequent(referenceCounts)
        .filter(([w]) => !captionCounts.has(w))
        .slice(0, 30),
      mostUsed: frequent(captionCounts)
        .slice(0, 30)
        .map(([w, n]) => [w, n, referenceCounts.get(w) ?? 0]),
    },
    checks: {
      repeatedTrigram: rows.filter((r) => r.problems.repeatedTrigram).length,
      danglingEnd: rows.filter((r) => r.problems.danglingEnd).length,
      tooLong: rows.filter((r) => r.problems.tooLong).length,
      maxLength,
    },
  };
}

/** One self-contained HTML page (inline CSS and a little JS, thumbnails as data URIs). */
export function renderReport(input: ReportInput): string {
  const data = buildReportData(input);
  const s = input.scores;
  const thumbs = input.thumbnails ?? new Map<string, string>();
  const when = (input.generatedAt ?? new Date()).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  const title = `${baseName(input.model)} on the ${input.split} split`;
  const pct = (x: number) => (x * 100).toFixed(1);
  const distinctShare = s.images > 0 ? (s.distinct / s.images) * 100 : 0;
  const v = data.vocabulary;
  const c = data.checks;

  const thumb = (image: string, caption: string, cls = 'thumb') => {
    const src = thumbs.get(image);
    return src
      ? `<img class="${cls}" src="${src}" alt="${esc(caption)}" title="${esc(image)}">`
      : `<span class="${cls} missing" title="${esc(image)}">no photo</span>`;
  };
  const problemBadges = (p: CaptionProblems) =>
    [
      p.repeatedTrigram ? `<span class="badge">repeats “${esc(p.repeatedTrigram)}”</span>` : '',
      p.danglingEnd ? `<span class="badge">ends on “${esc(p.danglingEnd)}”</span>` : '',
      p.tooLong ? `<span class="badge">${p.tooLong} words</span>` : '',
    ].join('');
  const refList = (refs: readonly string[]) =>
    `<ol class="refs">${refs.map((r) => `<li>${esc(r)}</li>`).join('')}</ol>`;
  const card = (r: ReportRow) => `<figure class="card">
  ${thumb(r.image, r.caption)}
  <figcaption><p class="cap">${esc(r.caption)}${problemBadges(r.problems)}</p>
  <p class="meta">CIDEr-D <b>${r.ciderD.toFixed(1)}</b></p><p class="file">${esc(r.image)}</p></figcaption>
  ${refList(r.references)}
</figure>`;
  const maxCider = Math.max(1, ...data.rows.map((r) => r.ciderD));

  const scoreCells: [string, string][] = [
    ['BLEU-1', pct(s.bleu1)],
    ['BLEU-2', pct(s.bleu2)],
    ['BLEU-3', pct(s.bleu3)],
    ['BLEU-4', pct(s.bleu4)],
    ['ROUGE-L', pct(s.rougeL)],
    ['CIDEr-D', pct(s.ciderD)],
    ['distinct captions', `${s.distinct} / ${s.images} (${distinctShare.toFixed(1)}%)`],
  ];
  const check = (n: number, what: string) => `<li class="${n === 0 ? 'ok' : 'bad'}"><b>${n}</b> ${what}</li>`;

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>captioner report: ${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>captioner report: ${esc(title)}</h1>
<p class="meta">Model <code>${esc(input.model)}</code> · ${data.rows.length} photos captioned${
    input.failed && input.failed.length > 0 ? `, ${input.failed.length} could not be read` : ''
  }${input.decodingText ? ` · ${esc(input.decodingText)}` : ''} · ${esc(when)}</p>
<nav><a href="#scores">Scores</a><a href="#best">Best 20</a><a href="#worst">Worst 20</a><a href="#repeated">Repeated captions</a><a href="#words">Words</a><a href="#all">All photos</a></nav>
</header>
<main>
<section id="scores">
<h2>Scores</h2>
<table class="scores"><thead><tr>${scoreCells.map(([k]) => `<th>${k}</th>`).join('')}</tr></thead>
<tbody><tr>${scoreCells.map(([, val]) => `<td>${val}</td>`).join('')}</tr></tbody></table>
<p class="note">coco-caption definitions, ×100. Per-photo CIDEr-D below is on the same scale: its mean over the photos is the split's CIDEr-D.</p>
<ul class="checks">
${check(c.repeatedTrigram, 'captions repeat a word trigram')}
${check(c.danglingEnd, 'captions end on a dangling word (“a”, “with”, “in”, …)')}
${check(c.tooLong, `captions run over ${c.maxLength} words`)}
</ul>
</section>

<section id="best">
<h2>Best ${data.best.length} by CIDEr-D</h2>
<div class="cards">${data.best.map(card).join('\n')}</div>
</section>

<section id="worst">
<h2>Worst ${data.worst.length} by CIDEr-D</h2>
<div class="cards">${data.worst.map(card).join('\n')}</div>
</section>

<section id="repeated">
<h2>Most repeated captions</h2>
<p>${data.repeatedTotals.captions} captions are given to more than one photo, ${data.repeatedTotals.photos} photos in all; ${s.distinct} of ${s.images} captions are distinct.</p>
${
  data.repeated.length === 0
    ? '<p>No caption is given to two photos.</p>'
    : `<table class="repeated"><thead><tr><th>photos</th><th>caption</th><th>some of them</th></tr></thead><tbody>
${data.repeated
  .map(
    (g) =>
      `<tr><td class="num">${g.images.length}</td><td>${esc(g.caption)}</td><td class="strip">${g.images
        .slice(0, STRIP_THUMBNAILS)
        .map((image) => thumb(image, g.caption, 'mini'))
        .join(
          '',
        )}${g.images.length > STRIP_THUMBNAILS ? `<span class="more">+${g.images.length - STRIP_THUMBNAILS}</span>` : ''}</td></tr>`,
  )
  .join('\n')}
</tbody></table>`
}
</section>

<section id="words">
<h2>Words</h2>
<p>The captions use <b>${v.captionWords}</b> distinct words; the references of the same photos use <b>${v.referenceWords}</b>${
    v.referenceWords > 0
      ? ` (the captions use ${((v.shared / v.referenceWords) * 100).toFixed(1)}% of them)`
      : ''
  }. A caption is ${v.meanCaptionLength.toFixed(1)} words long on average, a reference ${v.meanReferenceLength.toFixed(1)}.</p>
<div class="cols">
<div><h3>The captions’ most used words</h3>
<table class="words"><thead><tr><th>word</th><th>in captions</th><th>in references</th></tr></thead><tbody>
${v.mostUsed.map(([w, n, r]) => `<tr><td>${esc(w)}</td><td class="num">${n}</td><td class="num">${r}</td></tr>`).join('\n')}
</tbody></table></div>
<div><h3>Frequent reference words no caption uses</h3>
<table class="words"><thead><tr><th>word</th><th>in references</th></tr></thead><tbody>
${v.neverUsed.map(([w, n]) => `<tr><td>${esc(w)}</td><td class="num">${n}</td></tr>`).join('\n')}
</tbody></table></div>
</div>
</section>

<section id="all">
<h2>All ${data.rows.length} photos</h2>
<p class="controls"><label>Filter <input id="filter" type="search" placeholder="a word of the caption, a reference or the file name"></label>
<span id="shown"></span> <span class="note">Click a column heading to sort.</span></p>
<table id="photos" class="photos"><thead><tr>
<th aria-sort="ascending"><button data-key="index" data-type="num">#</button></th>
<th>photo</th>
<th aria-sort="none"><button data-key="caption">caption</button></th>
<th aria-sort="none"><button data-key="cider" data-type="num">CIDEr-D</button></th>
<th aria-sort="none"><button data-key="words" data-type="num">words</button></th>
<th>references</th>
</tr></thead><tbody>
${data.rows
  .map(
    (r) =>
      `<tr data-index="${r.index}" data-caption="${esc(r.caption)}" data-cider="${r.ciderD.toFixed(3)}" data-words="${r.words}"><td class="num">${r.index}</td><td>${thumb(
        r.image,
        r.caption,
      )}<div class="file">${esc(r.image)}</div></td><td class="cap">${esc(r.caption)}${problemBadges(
        r.problems,
      )}</td><td class="num">${r.ciderD.toFixed(1)}<span class="meter"><span style="width:${(
        (r.ciderD / maxCider) *
        100
      ).toFixed(
        0,
      )}%"></span></span></td><td class="num">${r.words}</td><td>${refList(r.references)}</td></tr>`,
  )
  .join('\n')}
</tbody></table>
</section>
${
  input.failed && input.failed.length > 0
    ? `<section id="failed"><h2>Photos that could not be read</h2><ul>${input.failed
        .map((f) => `<li>${esc(f.image)}: ${esc(f.reason)}</li>`)
        .join('')}</ul></section>`
    : ''
}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter((p) => p.length > 0);
  return parts.length === 0 ? path : parts.slice(-2).join('/');
}

export function esc(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!,
  );
}

const CSS = `
:root { color-scheme: light dark; --fg: #1b1b1f; --muted: #5d5d66; --line: #d9d9e0; --bg: #fff; --soft: #f4f4f7; --bad: #b3261e; --ok: #1e6b35; --bar: #6d8fd8; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8e8ee; --muted: #a3a3ad; --line: #3a3a44; --bg: #16161a; --soft: #202027; --bad: #ff8a80; --ok: #7bd88f; --bar: #7f9fe6; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header, main { max-width: 1200px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 20px; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.5rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 28px 0 10px; }
h3 { font-size: 1rem; margin: 12px 0 6px; }
.meta, .note { color: var(--muted); font-size: 0.87rem; margin: 4px 0; }
nav { display: flex; flex-wrap: wrap; gap: 16px; margin: 10px 0 12px; }
nav a { color: inherit; }
code { font-size: 0.9em; }
table { border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid var(--line); }
th { font-weight: 600; background: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.scores td { font-size: 1.25rem; font-variant-numeric: tabular-nums; }
ul.checks { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 8px 24px; }
ul.checks li.ok b { color: var(--ok); }
ul.checks li.bad b { color: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 12px; }
figure.card { margin: 0; padding: 10px; border: 1px solid var(--line); border-radius: 8px; display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 8px 10px; align-items: start; }
figure.card .refs { grid-column: 1 / -1; }
figcaption { min-width: 0; }
figcaption p { margin: 0 0 4px; }
.file { color: var(--muted); font-size: 0.72rem; overflow-wrap: anywhere; }
.cap { font-weight: 500; }
img.thumb, span.thumb { display: block; max-width: 112px; max-height: 112px; border-radius: 4px; }
img.mini, span.mini { display: inline-block; height: 44px; width: auto; margin: 0 3px 3px 0; border-radius: 3px; vertical-align: middle; }
span.missing { width: 84px; height: 63px; background: var(--soft); color: var(--muted); font-size: 0.75rem; display: grid; place-items: center; }
.more { color: var(--muted); font-size: 0.85rem; margin-left: 4px; }
ol.refs { margin: 0; padding-left: 1.3em; color: var(--muted); font-size: 0.85rem; }
.badge { display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 9px; font-size: 0.75rem; font-weight: 400; color: #fff; background: var(--bad); }
.cols { display: flex; flex-wrap: wrap; gap: 32px; }
table.words td, table.words th { padding: 3px 10px; }
table.photos { width: 100%; }
table.photos td:nth-child(2) { width: 128px; }
table.photos td:nth-child(3) { width: 30%; }
table.photos .file { margin-top: 2px; }
th { white-space: nowrap; }
.meter { display: block; width: 64px; height: 5px; margin: 4px 0 0 auto; background: var(--soft); border-radius: 3px; overflow: hidden; }
.meter > span { display: block; height: 100%; background: var(--bar); }
th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; color: inherit; cursor: pointer; }
th[aria-sort="ascending"] button::after { content: " ▲"; }
th[aria-sort="descending"] button::after { content: " ▼"; }
.controls { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; }
.controls input { width: 22em; max-width: 100%; padding: 4px 6px; font: inherit; }
table.repeated td.strip { white-space: normal; }
`;

const SCRIPT = `
(() => {
  const table = document.getElementById('photos');
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const headers = Array.from(table.tHead.rows[0].cells);
  for (const th of headers) {
    const button = th.querySelector('button');
    if (!button) continue;
    button.addEventListener('click', () => {
      const key = button.dataset.key;
      const numeric = button.dataset.type === 'num';
      // A first click sorts scores high to low, text A to Z; a second click reverses.
      const current = th.getAttribute('aria-sort');
      const dir = current === 'none' ? (numeric && key !== 'index' ? -1 : 1) : current === 'ascending' ? -1 : 1;
      for (const h of headers) if (h.hasAttribute('aria-sort')) h.setAttribute('aria-sort', 'none');
      th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
      const value = (row) => (numeric ? Number(row.dataset[key]) : row.dataset[key]);
      rows.sort((a, b) => {
        const x = value(a), y = value(b);
        const c = numeric ? x - y : x.localeCompare(y);
        return dir * c || Number(a.dataset.index) - Number(b.dataset.index);
      });
      body.append(...rows);
    });
  }
  const filter = document.getElementById('filter');
  const shown = document.getElementById('shown');
  const texts = new Map(rows.map((row) => [row, row.textContent.toLowerCase()]));
  const update = () => {
    const q = filter.value.trim().toLowerCase();
    let n = 0;
    rows.forEach((row) => {
      const show = q === '' || texts.get(row).includes(q);
      row.hidden = !show;
      if (show) n++;
    });
    shown.textContent = q === '' ? '' : n + ' of ' + rows.length + ' photos';
  };
  filter.addEventListener('input', update);
})();
`;
