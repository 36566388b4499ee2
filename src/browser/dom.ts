// The browser APIs the on-device captioner uses, typed here rather than through the DOM library: the
// package's Node build type-checks without DOM types, and these few shapes are all the code needs.

/** Anything a 2D canvas can draw: ImageBitmap, HTMLImageElement, HTMLCanvasElement, OffscreenCanvas, VideoFrame… */
export interface DrawableImage {
  readonly width: number;
  readonly height: number;
}

export interface ImageBitmapLike extends DrawableImage {
  close(): void;
}

export interface Context2D {
  fillStyle: unknown;
  imageSmoothingEnabled: boolean;
  imageSmoothingQuality: 'low' | 'medium' | 'high';
  fillRect(x: number, y: number, w: number, h: number): void;
  drawImage(image: DrawableImage, dx: number, dy: number, dw: number, dh: number): void;
  getImageData(
    x: number,
    y: number,
    w: number,
    h: number,
  ): { data: Uint8ClampedArray; width: number; height: number };
}

export interface CanvasLike {
  width: number;
  height: number;
  getContext(type: '2d', options?: { willReadFrequently?: boolean; alpha?: boolean }): Context2D | null;
}

export interface CacheLike {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
  delete(key: string): Promise<boolean>;
  keys(): Promise<readonly { url: string }[]>;
}

export interface BrowserGlobals {
  createImageBitmap?(
    image: Blob | DrawableImage,
    options?: {
      imageOrientation?: 'from-image' | 'flipY' | 'none';
      premultiplyAlpha?: 'none' | 'premultiply' | 'default';
      colorSpaceConversion?: 'none' | 'default';
      resizeWidth?: number;
      resizeHeight?: number;
      resizeQuality?: 'pixelated' | 'low' | 'medium' | 'high';
    },
  ): Promise<ImageBitmapLike>;
  OffscreenCanvas?: new (width: number, height: number) => CanvasLike;
  document?: { createElement(tag: 'canvas'): CanvasLike };
  caches?: { open(name: string): Promise<CacheLike>; delete(name: string): Promise<boolean> };
  crossOriginIsolated?: boolean;
  isSecureContext?: boolean;
  WebAssembly?: { validate(bytes: Uint8Array): boolean };
  /** WebCodecs' image decoder (Chromium 94+, Firefox 133+). */
  ImageDecoder?: new (init: {
    data: Uint8Array;
    type: string;
    desiredWidth?: number;
    desiredHeight?: number;
  }) => ImageDecoderLike;
  crypto?: { subtle?: { digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer> } };
}

export interface ImageDecoderLike {
  decode(): Promise<{ image: VideoFrameLike }>;
  close(): void;
}

/** The decoded frame: its stored size, and the clockwise rotation and mirroring it is shown with (EXIF). */
export interface VideoFrameLike {
  readonly codedWidth: number;
  readonly codedHeight: number;
  readonly rotation?: number;
  readonly flip?: boolean;
  copyTo(destination: Uint8ClampedArray, options: { format: 'RGBA'; colorSpace: 'srgb' }): Promise<unknown>;
  close(): void;
}

export const browser = globalThis as unknown as BrowserGlobals;

/** A canvas of the given size: an OffscreenCanvas where there is one (workers too), else a <canvas>. */
export function makeCanvas(width: number, height: number): CanvasLike {
  if (browser.OffscreenCanvas) return new browser.OffscreenCanvas(width, height);
  if (!browser.document) throw new Error('no canvas here: neither OffscreenCanvas nor document');
  const canvas = browser.document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  return canvas;
}
