import {
  isCaptionerError,
  loadCaptioner,
  onDeviceUnsupported,
  runtimeVersion,
  type BrowserCaptioner,
  type LoadProgress,
} from '../../src/browser/index.js';
import type { CaptionResponse } from './api.js';
import { errorSentence, formatSize } from './messages.js';

/** Captioning in this browser: the model downloaded once (then kept in Cache Storage), run on WebAssembly. */
export class OnDevice {
  /** Why this browser cannot, if it cannot. */
  readonly unsupported = onDeviceUnsupported();
  private loading: Promise<BrowserCaptioner> | undefined;
  captioner: BrowserCaptioner | undefined;

  /**
   * Starts loading the model (once). The bundle is beside the page (model/: served by `captioner
   * serve`, or copied by `captioner export --with-page`), onnxruntime-web's files in ort/<version>/.
   */
  load(onProgress: (progress: LoadProgress) => void): Promise<BrowserCaptioner> {
    this.loading ??= loadCaptioner({
      modelUrl: new URL('model/', document.baseURI).href,
      wasmPaths: new URL(`ort/${runtimeVersion()}/`, document.baseURI).href,
      onProgress,
      threads: threadsParameter(),
    }).then((captioner) => (this.captioner = captioner));
    return this.loading;
  }

  /** Captions in this browser (waiting for the model if it is still loading); rejects with ModelNotLoaded if it cannot load. */
  async caption(file: Blob, beam: number): Promise<CaptionResponse> {
    let captioner: BrowserCaptioner;
    try {
      captioner = await this.loading!;
    } catch (error) {
      throw new ModelNotLoaded(error);
    }
    return captioner.caption(file, { beam });
  }
}

/** `?threads=N` in the page's address: WebAssembly threads (when cross-origin isolated), for measuring. */
function threadsParameter(): number | undefined {
  const n = Number(new URLSearchParams(location.search).get('threads'));
  return Number.isInteger(n) && n >= 1 && n <= 16 ? n : undefined;
}

/** The model could not be loaded in this browser (the page then asks the server, if there is one). */
export class ModelNotLoaded extends Error {
  constructor(readonly reason: unknown) {
    super('the model could not be loaded in this browser');
  }
}

/** A failure on the device, as a sentence for a person. */
export function deviceErrorSentence(error: unknown): string {
  if (error instanceof ModelNotLoaded) error = error.reason;
  if (isCaptionerError(error)) {
    if (['IMAGE_UNSUPPORTED', 'IMAGE_CORRUPT', 'IMAGE_TOO_LARGE'].includes(error.code))
      return errorSentence(0, { error: { code: error.code, message: error.message } });
    return `This browser could not caption it (${error.message}).`;
  }
  return 'Something went wrong in this page. Please reload it.';
}

/** The download's progress in words: "Downloading the model: 4.1 of 23.4 MB". */
export function progressSentence(p: LoadProgress): string {
  if (p.phase === 'download')
    return p.fromCache
      ? 'Reading the model from this browser’s cache…'
      : `Downloading the model (once; this browser keeps it): ${formatSize(p.loaded)} of ${formatSize(p.total)}…`;
  if (p.phase === 'start') return 'Starting the model…';
  return 'The model is ready.';
}
