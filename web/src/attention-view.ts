import type { CaptionResult, WordAttention } from '../../src/pipeline/captioner-types.js';
import { heatColour, heatPeak } from '../../src/pipeline/heat-colormap.js';
import { whereLooked } from './where-looked.js';

/** How much of the heat colour covers the photo (as in `captioner caption --attention`). */
const OPACITY = 0.5;
/** Width of a panel of "Show all words", in CSS pixels. */
const PANEL_WIDTH = 150;

/**
 * Where an attention model looked for each word of the caption. Built in its own elements next to the
 * page's photo and caption: the words as buttons (hover, tap or focus one to see its heat over the
 * photo; a tap or Enter keeps it shown, Escape hides it), a toggle that shows a small panel per word, and
 * a polite status line that says in words where the model looked. Nothing shows for models without
 * attention (the model card says which), and the caption request asks for the weights only when the
 * model has them.
 */
export class AttentionView {
  private available = false;
  private words: WordAttention[] = [];
  private grid: [number, number] = [7, 7];
  /** The word kept shown by a tap, click or Enter (-1: none), and the one shown now. */
  private pinned = -1;
  private shown = -1;
  private readonly section: HTMLElement;
  private readonly buttons: HTMLDivElement;
  private readonly toggle: HTMLButtonElement;
  private readonly panels: HTMLOListElement;
  private readonly status: HTMLParagraphElement;
  private readonly overlay: HTMLCanvasElement;

  constructor(
    private readonly photo: HTMLImageElement,
    caption: HTMLElement,
  ) {
    this.overlay = element('canvas', 'heat-overlay');
    this.overlay.setAttribute('aria-hidden', 'true');
    this.overlay.hidden = true;
    photo.after(this.overlay);
    photo.parentElement?.classList.add('has-heat');

    this.section = element('div', 'attention');
    this.section.id = 'attention';
    this.section.hidden = true;
    const title = element('p', 'label');
    title.id = 'attention-title';
    title.textContent = 'Where the model looked';
    const hint = element('p', 'hint');
    hint.id = 'attention-hint';
    hint.textContent = 'Hover, tap or focus a word to see where the model looked for it.';
    this.buttons = element('div', 'attention-words');
    this.buttons.id = 'attention-words';
    this.buttons.setAttribute('role', 'group');
    this.buttons.setAttribute('aria-labelledby', 'attention-title');
    this.buttons.setAttribute('aria-describedby', 'attention-hint');
    this.buttons.addEventListener('keydown', (event) => this.onKey(event));
    this.toggle = element('button', 'button small');
    this.toggle.type = 'button';
    this.toggle.id = 'attention-toggle';
    this.toggle.textContent = 'Show all words';
    this.toggle.setAttribute('aria-expanded', 'false');
    this.toggle.setAttribute('aria-controls', 'attention-panels');
    this.toggle.addEventListener('click', () => this.setPanelsOpen(this.panels.hidden));
    this.status = element('p', 'visually-hidden');
    this.status.id = 'attention-status';
    this.status.setAttribute('role', 'status');
    this.panels = element('ol', 'attention-panels');
    this.panels.id = 'attention-panels';
    this.panels.setAttribute('aria-label', 'Where the model looked, word by word');
    this.panels.hidden = true;
    this.section.append(title, hint, this.buttons, this.toggle, this.status, this.panels);
    caption.after(this.section);

    photo.addEventListener('load', () => this.redraw());
    new ResizeObserver(() => this.redraw()).observe(photo);
  }

  /** Whether the server's model has attention (its card's `attention`). */
  setAvailable(available: boolean): void {
    this.available = available;
  }

  /** Whether caption requests should ask for the weights. */
  get wanted(): boolean {
    return this.available;
  }

  /** Hides everything (a new photo is on its way). */
  clear(): void {
    this.words = [];
    this.pinned = this.shown = -1;
    this.section.hidden = true;
    this.overlay.hidden = true;
    this.buttons.replaceChildren();
    this.panels.replaceChildren();
    this.status.textContent = '';
  }

  /** Shows the words of a caption result that has attention (else hides the view). */
  show(result: Pick<CaptionResult, 'attention' | 'attentionGrid'>): void {
    this.clear();
    const grid = result.attentionGrid;
    if (
      !result.attention?.length ||
      !grid ||
      result.attention.some((a) => a.weights.length !== grid[0] * grid[1])
    )
      return;
    this.words = result.attention;
    this.grid = grid;
    this.buttons.replaceChildren(...this.words.map((w, i) => this.wordButton(w.word, i)));
    this.section.hidden = false;
    if (!this.panels.hidden) this.drawPanels();
  }

  private wordButton(word: string, index: number): HTMLButtonElement {
    const button = element('button', 'attention-word');
    button.type = 'button';
    button.textContent = word;
    button.dataset.index = String(index);
    button.setAttribute('aria-label', `Where the model looked for “${word}”`);
    button.setAttribute('aria-pressed', 'false');
    button.addEventListener('pointerenter', () => this.display(index));
    button.addEventListener('pointerleave', () => this.display(this.pinned));
    button.addEventListener('focus', () => this.display(index));
    button.addEventListener('blur', () => this.display(this.pinned));
    button.addEventListener('click', () => {
      this.pinned = this.pinned === index ? -1 : index;
      this.display(this.pinned === -1 ? index : this.pinned, true);
    });
    return button;
  }

  private onKey(event: KeyboardEvent): void {
    const buttons = [...this.buttons.querySelectorAll<HTMLButtonElement>('button')];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (event.key === 'Escape') {
      this.pinned = -1;
      this.display(-1);
    } else if ((event.key === 'ArrowRight' || event.key === 'ArrowLeft') && at >= 0) {
      event.preventDefault();
      const next = (at + (event.key === 'ArrowRight' ? 1 : buttons.length - 1)) % buttons.length;
      buttons[next].focus();
    }
  }

  /** Shows word `index`'s heat over the photo (-1: none) and says where it is. */
  private display(index: number, announce = false): void {
    if (index >= this.words.length) index = -1;
    const changed = index !== this.shown;
    this.shown = index;
    for (const button of this.buttons.querySelectorAll<HTMLButtonElement>('button')) {
      const i = Number(button.dataset.index);
      button.setAttribute('aria-pressed', String(i === this.pinned));
      button.classList.toggle('showing', i === index);
    }
    this.redraw();
    if (changed || announce)
      this.status.textContent =
        index < 0
          ? ''
          : `Where the model looked for “${this.words[index].word}”: ${whereLooked(this.words[index].weights, this.grid)}.`;
  }

  private redraw(): void {
    const index = this.shown;
    const { photo, overlay } = this;
    if (index < 0 || !photo.naturalWidth || this.section.hidden) {
      overlay.hidden = true;
      return;
    }
    // The overlay covers the img box (to the fraction of a pixel); the photo sits inside it
    // (object-fit: contain).
    const rect = photo.getBoundingClientRect();
    // Offsets from the padding box of the positioned figure (inside any border it has).
    const frame = photo.offsetParent ?? photo.parentElement;
    const outer = frame?.getBoundingClientRect() ?? rect;
    const parent = { left: outer.left + (frame?.clientLeft ?? 0), top: outer.top + (frame?.clientTop ?? 0) };
    const box = { width: rect.width, height: rect.height };
    const scale = Math.min(box.width / photo.naturalWidth, box.height / photo.naturalHeight);
    const width = photo.naturalWidth * scale;
    const height = photo.naturalHeight * scale;
    const ratio = window.devicePixelRatio || 1;
    overlay.width = Math.round(box.width * ratio);
    overlay.height = Math.round(box.height * ratio);
    overlay.style.left = `${rect.left - parent.left}px`;
    overlay.style.top = `${rect.top - parent.top}px`;
    overlay.style.width = `${box.width}px`;
    overlay.style.height = `${box.height}px`;
    const context = overlay.getContext('2d');
    if (!context) return;
    context.clearRect(0, 0, overlay.width, overlay.height);
    drawHeat(
      context,
      this.words[index].weights,
      this.grid,
      ((box.width - width) / 2) * ratio,
      ((box.height - height) / 2) * ratio,
      width * ratio,
      height * ratio,
    );
    overlay.hidden = false;
  }

  private setPanelsOpen(open: boolean): void {
    this.panels.hidden = !open;
    this.toggle.setAttribute('aria-expanded', String(open));
    this.toggle.textContent = open ? 'Hide the word panels' : 'Show all words';
    if (open) this.drawPanels();
  }

  /** One small panel per word: the photo, its heat, the word under it. */
  private drawPanels(): void {
    const { photo } = this;
    if (!photo.complete || !photo.naturalWidth) {
      photo.addEventListener('load', () => this.drawPanels(), { once: true });
      return;
    }
    const ratio = window.devicePixelRatio || 1;
    const width = PANEL_WIDTH;
    const height = Math.round((PANEL_WIDTH * photo.naturalHeight) / photo.naturalWidth);
    this.panels.replaceChildren(
      ...this.words.map(({ word, weights }) => {
        const item = element('li', 'attention-panel');
        const figure = element('figure', '');
        const canvas = element('canvas', '');
        canvas.width = Math.round(width * ratio);
        canvas.height = Math.round(height * ratio);
        canvas.style.width = `${width}px`;
        canvas.style.height = `${height}px`;
        canvas.setAttribute('role', 'img');
        canvas.setAttribute(
          'aria-label',
          `Where the model looked for “${word}”: ${whereLooked(weights, this.grid)}`,
        );
        const context = canvas.getContext('2d');
        if (context) {
          context.imageSmoothingEnabled = true;
          context.imageSmoothingQuality = 'high';
          context.drawImage(photo, 0, 0, canvas.width, canvas.height);
          drawHeat(context, weights, this.grid, 0, 0, canvas.width, canvas.height);
        }
        const label = element('figcaption', '');
        label.textContent = word;
        label.setAttribute('aria-hidden', 'true');
        figure.append(canvas, label);
        item.append(figure);
        return item;
      }),
    );
  }
}

/**
 * The weights as heat over a rectangle: one pixel per region in a tiny canvas, coloured and half
 * transparent, scaled up with the browser's best smoothing.
 */
function drawHeat(
  context: CanvasRenderingContext2D,
  weights: readonly number[],
  [rows, columns]: [number, number],
  x: number,
  y: number,
  width: number,
  height: number,
): void {
  const cells = document.createElement('canvas');
  cells.width = columns;
  cells.height = rows;
  const cellContext = cells.getContext('2d');
  if (!cellContext) return;
  const image = cellContext.createImageData(columns, rows);
  const peak = heatPeak(weights);
  weights.forEach((w, i) => {
    const [r, g, b] = heatColour(w / peak);
    image.data.set([r, g, b, Math.round(255 * OPACITY)], i * 4);
  });
  cellContext.putImageData(image, 0, 0);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  context.drawImage(cells, x, y, width, height);
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}
