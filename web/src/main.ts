import './style.css';
import { asAltText, copyText } from './alt-text.js';
import {
  ApiError,
  captionPhoto,
  fetchJson,
  type CaptionResponse,
  type Limits,
  type ModelCard,
} from './api.js';
import { AttentionView } from './attention-view.js';
import { formatSize } from './messages.js';
import { describeModel } from './model-info.js';
import { deviceErrorSentence, ModelNotLoaded, OnDevice, progressSentence } from './on-device.js';

interface Entry {
  id: number;
  name: string;
  url: string;
  result: CaptionResponse;
  /** Captioned in this browser (the photo never left it). */
  onDevice: boolean;
}

const GALLERY_SIZE = 12;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  dropzone: $<HTMLDivElement>('dropzone'),
  choose: $<HTMLButtonElement>('choose'),
  input: $<HTMLInputElement>('file-input'),
  limitsHint: $<HTMLParagraphElement>('limits-hint'),
  beam: $<HTMLSelectElement>('beam'),
  error: $<HTMLDivElement>('error'),
  result: $<HTMLElement>('result'),
  preview: $<HTMLImageElement>('preview'),
  caption: $<HTMLParagraphElement>('caption'),
  copy: $<HTMLButtonElement>('copy'),
  copyStatus: $<HTMLSpanElement>('copy-status'),
  alternatives: $<HTMLOListElement>('alternatives'),
  timing: $<HTMLParagraphElement>('timing'),
  gallerySection: $<HTMLElement>('gallery-section'),
  gallery: $<HTMLUListElement>('gallery'),
  modelInfo: $<HTMLParagraphElement>('model-info'),
  where: $<HTMLFieldSetElement>('where'),
  whereHint: $<HTMLParagraphElement>('where-hint'),
  modelStatus: $<HTMLDivElement>('model-status'),
  modelProgress: $<HTMLProgressElement>('model-progress'),
  modelStatusText: $<HTMLSpanElement>('model-status-text'),
};

// Where an attention model looked for each word: its own elements beside the photo and the caption.
const attention = new AttentionView(ui.preview, ui.caption);

const entries: Entry[] = [];
let shownId = -1;
let nextId = 0;
let limits: Limits | undefined;
// Photos are captioned one after another, in the order they were given.
let work: Promise<void> = Promise.resolve();

// Where photos are captioned: in this browser (the default where it can: the photo stays on the device)
// or on the server (where the browser cannot, or when the visitor chooses it).
type Where = 'device' | 'server';
const device = new OnDevice();
let where: Where = device.unsupported ? 'server' : 'device';
/** Whether a captioner server answers (undefined until known): a static build has none. */
let server: boolean | undefined;
let deviceFailed: string | undefined;
let footerCard: ModelCard | undefined;

function submit(files: Iterable<File>) {
  for (const file of files) work = work.then(() => captionOne(file));
}

async function captionOne(file: File) {
  const name = file.name || 'pasted photo';
  hideError();
  const onDevice = where === 'device' && !deviceFailed;
  if (!onDevice && server === false) {
    showError(
      name,
      `This browser cannot caption photos itself (${deviceFailed ?? device.unsupported}), and there is no server to send them to.`,
    );
    return;
  }
  if (!onDevice && limits && file.size > limits.maxUploadBytes) {
    showError(
      name,
      `That file is too big: the limit is ${formatSize(limits.maxUploadBytes)}. Try a smaller copy of the photo.`,
    );
    return;
  }
  const url = URL.createObjectURL(file);
  showPending(url, name, onDevice);
  try {
    const beam = Number(ui.beam.value);
    let captionedHere = onDevice;
    const result = onDevice
      ? await device.caption(file, beam).catch((error: unknown) => {
          // The model could not load here: the server, if there is one, captions instead.
          if (error instanceof ModelNotLoaded && server !== false) {
            captionedHere = false;
            return captionPhoto(file, beam, limits, attention.wanted);
          }
          throw new ApiError(deviceErrorSentence(error));
        })
      : await captionPhoto(file, beam, limits, attention.wanted);
    const entry = { id: nextId++, name, url, result, onDevice: captionedHere };
    entries.unshift(entry);
    for (const old of entries.splice(GALLERY_SIZE)) URL.revokeObjectURL(old.url);
    show(entry);
    renderGallery();
  } catch (error) {
    clearTimeout(previewTimer);
    URL.revokeObjectURL(url);
    ui.result.hidden = true;
    showError(
      name,
      error instanceof ApiError ? error.message : 'Something went wrong in this page. Please reload it.',
    );
    if (!(error instanceof ApiError)) console.error(error);
  }
}

/**
 * On the device, the photo being captioned is shown with its caption, or after this long if the
 * caption takes longer: the browser would otherwise decode it for the page while the captioner decodes
 * it too (a 1-MP JPEG in a bare Chromium page on a 2-core machine: ~25 ms instead of ~14), and most
 * captions take less.
 */
const ON_DEVICE_PREVIEW_DELAY_MS = 300;
let previewTimer: ReturnType<typeof setTimeout> | undefined;

function showPending(url: string, name: string, onDevice: boolean) {
  ui.result.hidden = false;
  ui.result.setAttribute('aria-busy', 'true');
  ui.preview.hidden = true;
  ui.preview.onload = () => (ui.preview.hidden = false);
  clearTimeout(previewTimer);
  ui.preview.removeAttribute('src');
  if (onDevice) previewTimer = setTimeout(() => (ui.preview.src = url), ON_DEVICE_PREVIEW_DELAY_MS);
  else ui.preview.src = url;
  ui.preview.alt = `${name}, being captioned`;
  ui.caption.textContent = 'Writing a caption…';
  ui.caption.classList.add('pending');
  ui.copy.disabled = true;
  ui.copyStatus.textContent = '';
  ui.alternatives.replaceChildren();
  ui.timing.textContent = '';
  attention.clear();
}

function show(entry: Entry) {
  clearTimeout(previewTimer);
  shownId = entry.id;
  const { result } = entry;
  ui.result.hidden = false;
  ui.result.removeAttribute('aria-busy');
  ui.preview.hidden = false;
  ui.preview.src = entry.url;
  ui.preview.alt = asAltText(result.caption);
  ui.caption.classList.remove('pending');
  ui.caption.textContent = asAltText(result.caption);
  attention.show(result);
  ui.copy.disabled = false;
  ui.copyStatus.textContent = '';
  ui.alternatives.replaceChildren(...result.alternatives.map((alt) => alternativeItem(alt.text, alt.score)));
  const t = result.timings;
  ui.timing.textContent =
    `${entry.name}: captioned ${entry.onDevice ? 'on this device' : 'on the server'} in ${ms(t.totalMs)} ` +
    `(reading ${ms(t.decodeMs)}, seeing ${ms(t.encodeMs)}, writing ${ms(t.generateMs)}).` +
    (entry.onDevice ? ' This photo stayed on your device.' : '');
  for (const button of ui.gallery.querySelectorAll('button')) {
    button.setAttribute('aria-current', String(button.dataset.id === String(entry.id)));
  }
}

function alternativeItem(text: string, score: number): HTMLLIElement {
  const li = document.createElement('li');
  const sentence = document.createElement('span');
  sentence.className = 'alt-text';
  sentence.textContent = text;
  const scoreBox = document.createElement('span');
  scoreBox.className = 'score';
  // score is a mean log-probability per word; exp() of it (0..1) is the bar's length.
  scoreBox.title = 'Mean log-probability per word: closer to 0 is more confident';
  const bar = document.createElement('span');
  bar.className = 'score-bar';
  bar.setAttribute('aria-hidden', 'true');
  const fill = document.createElement('span');
  fill.style.width = `${Math.round(Math.min(1, Math.exp(score)) * 100)}%`;
  bar.append(fill);
  const value = document.createElement('span');
  value.className = 'score-value';
  value.textContent = `score ${score.toFixed(2).replace('-', '−')}`;
  scoreBox.append(bar, value);
  const copy = document.createElement('button');
  copy.type = 'button';
  copy.className = 'button small';
  copy.textContent = 'Copy';
  copy.setAttribute('aria-label', `Copy “${asAltText(text)}” as alt text`);
  copy.addEventListener('click', () => copyAlt(text));
  li.append(sentence, scoreBox, copy);
  return li;
}

async function copyAlt(caption: string) {
  const text = asAltText(caption);
  ui.copyStatus.textContent = (await copyText(text))
    ? `Copied: “${text}”`
    : 'Copying failed: select the caption and copy it by hand.';
}

function renderGallery() {
  ui.gallerySection.hidden = entries.length === 0;
  ui.gallery.replaceChildren(
    ...entries.map((entry) => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'thumb';
      button.dataset.id = String(entry.id);
      button.setAttribute('aria-label', `Show ${entry.name}: ${asAltText(entry.result.caption)}`);
      button.setAttribute('aria-current', String(entry.id === shownId));
      const img = document.createElement('img');
      img.src = entry.url;
      img.alt = '';
      const caption = document.createElement('span');
      caption.className = 'thumb-caption';
      caption.textContent = entry.result.caption;
      caption.setAttribute('aria-hidden', 'true');
      button.append(img, caption);
      button.addEventListener('click', () => {
        hideError();
        show(entry);
      });
      li.append(button);
      return li;
    }),
  );
}

function showError(name: string, sentence: string) {
  ui.error.replaceChildren();
  const title = document.createElement('strong');
  title.textContent = `“${name}” could not be captioned. `;
  ui.error.append(title, sentence);
  ui.error.hidden = false;
}

function hideError() {
  ui.error.hidden = true;
  ui.error.replaceChildren();
}

const ms = (value: number) => `${Math.round(value)} ms`;

// Picking, dropping anywhere on the page, and pasting.
ui.choose.addEventListener('click', () => ui.input.click());
ui.dropzone.addEventListener('click', (event) => {
  if (event.target === ui.dropzone) ui.input.click();
});
ui.input.addEventListener('change', () => {
  if (ui.input.files) submit([...ui.input.files]);
  ui.input.value = ''; // choosing the same file again still fires `change`
});
let dragDepth = 0;
window.addEventListener('dragenter', (event) => {
  if (!event.dataTransfer?.types.includes('Files')) return;
  dragDepth++;
  document.body.classList.add('dragging');
});
window.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) document.body.classList.remove('dragging');
});
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener('drop', (event) => {
  event.preventDefault();
  dragDepth = 0;
  document.body.classList.remove('dragging');
  const files = [...(event.dataTransfer?.files ?? [])];
  if (files.length > 0) submit(files);
});
document.addEventListener('paste', (event) => {
  const files = [...(event.clipboardData?.files ?? [])];
  if (files.length > 0) {
    event.preventDefault();
    submit(files);
  }
});
ui.copy.addEventListener('click', () => {
  const entry = entries.find((e) => e.id === shownId);
  if (entry) void copyAlt(entry.result.caption);
});

// Apple keyboards paste with ⌘V.
if (/Mac|iPhone|iPad/.test(navigator.userAgent)) {
  const ctrl = document.querySelector('.dropzone-lead kbd');
  if (ctrl) ctrl.textContent = '⌘';
}

// What the server allows and which model answers, for the hints and the footer (a static build of the
// page has no server: the model's card then comes with the model).
void fetchJson<Limits>('api/limits').then((value) => {
  limits = value;
  server = value !== undefined;
  if (value)
    ui.limitsHint.textContent = `JPEG, PNG, WebP, GIF, AVIF or TIFF, up to ${formatSize(value.maxUploadBytes)}.`;
  renderWhere();
});
void fetchJson<ModelCard>('api/model').then((card) => {
  if (card) footerCard = card;
  renderFooter();
  // Asked for on server captions only (`attention.wanted`), whichever way the visitor chooses later.
  attention.setAvailable(card?.attention === true);
});

function renderFooter() {
  const privacy =
    where === 'device' && !deviceFailed
      ? 'Photos are captioned in this browser: they never leave your device.'
      : 'Photos are captioned on this server and not kept.';
  const text = footerCard ? describeModel(footerCard) : '';
  ui.modelInfo.textContent = text
    ? text.replace(/Photos are captioned on this server and not kept\.?$/, privacy)
    : privacy;
}

function renderWhere() {
  const canDevice = !device.unsupported && !deviceFailed;
  if (!canDevice || server === false) where = canDevice ? 'device' : 'server';
  // The choice is offered only where both are possible.
  ui.where.hidden = !(canDevice && server === true);
  for (const input of ui.where.querySelectorAll<HTMLInputElement>('input[name="where"]'))
    input.checked = input.value === where;
  ui.whereHint.textContent =
    where === 'device'
      ? 'This photo stays on your device: it is captioned in this browser.'
      : 'The photo is sent to this server, captioned, and not kept.';
  renderFooter();
}

ui.where.addEventListener('change', (event) => {
  const value = (event.target as HTMLInputElement).value;
  if (value !== 'device' && value !== 'server') return;
  where = value;
  try {
    localStorage.setItem('captioner-where', where);
  } catch {
    // storage refused (private mode): the choice lasts for this visit
  }
  renderWhere();
});

// On the device by default, where this browser can: load the model now (the first visit downloads it,
// with its progress shown; later visits read it from the browser's cache). A visitor who chose the
// server gets the model only if they choose the device again.
try {
  if (!device.unsupported && localStorage.getItem('captioner-where') === 'server') where = 'server';
} catch {
  // no storage: the default
}
if (!device.unsupported && where === 'device') loadModel();
else ui.where.addEventListener('change', () => where === 'device' && loadModel());

let modelLoading = false;
function loadModel() {
  if (modelLoading) return;
  modelLoading = true;
  ui.modelStatus.hidden = false;
  ui.modelStatusText.textContent = 'Preparing the model…';
  const started = performance.now();
  device
    .load((progress) => {
      ui.modelProgress.max = Math.max(1, progress.total);
      ui.modelProgress.value = progress.loaded;
      ui.modelStatusText.textContent = progressSentence(progress);
    })
    .then((captioner) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      ui.modelProgress.hidden = true;
      ui.modelStatusText.textContent = `The model is ready in this browser (${seconds} s${captioner.fromCache ? ', from its cache' : ''}).`;
      ui.modelStatus.dataset.ready = 'true';
      // When, since the navigation started (the browser benchmark reads it).
      ui.modelStatus.dataset.readyMs = String(Math.round(performance.now()));
      ui.modelStatus.dataset.filesMs = String(captioner.loadTimings.filesMs);
      ui.modelStatus.dataset.startMs = String(captioner.loadTimings.startMs);
      ui.modelStatus.dataset.foldMs = String(captioner.loadTimings.foldMs);
      ui.modelStatus.dataset.foldedInWorker = String(captioner.loadTimings.foldedInWorker === true);
      ui.modelStatus.dataset.encoderMs = String(captioner.loadTimings.encoderMs);
      ui.modelStatus.dataset.decoderMs = String(captioner.loadTimings.decoderMs);
      ui.modelStatus.dataset.threads = String(captioner.runtime.threads);
      footerCard ??= { ...captioner.config.model, description: undefined } as ModelCard;
      renderFooter();
    })
    .catch((error: unknown) => {
      deviceFailed = error instanceof Error ? error.message : String(error);
      ui.modelProgress.hidden = true;
      ui.modelStatusText.textContent =
        server === false
          ? `This browser cannot run the model: ${deviceFailed}`
          : 'Photos are captioned on the server: this browser could not load the model.';
      console.warn('on-device captioning unavailable:', error);
      renderWhere();
    });
}
renderWhere();
