import cliProgress from 'cli-progress';

export interface Progress {
  /** Advance by `n` units, optionally updating the extra fields shown after the rate. */
  tick(n?: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

export interface ProgressOptions {
  label: string;
  total: number;
  unit: string;
  /** Where the bar goes; default stderr, so stdout stays clean for --json. */
  stream?: NodeJS.WriteStream;
  /** Extra `{name}` fields rendered after the rate, e.g. loss. */
  fields?: string[];
  /** Force the bar off (e.g. --json, tests). Default: on only when the stream is a TTY. */
  enabled?: boolean;
}

/** A bar with rate and ETA on a terminal; on a pipe, a plain line every few seconds instead. */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const enabled = options.enabled ?? true;
  const start = Date.now();
  let done = 0;
  let fields: Record<string, string | number> = {};
  const rate = () => done / Math.max((Date.now() - start) / 1000, 1e-3);
  const extra = () =>
    (options.fields ?? []).map((f) => (fields[f] === undefined ? '' : ` ${f} ${fields[f]}`)).join('');

  if (!enabled) return { tick: (n = 1, f) => ((done += n), f && (fields = { ...fields, ...f })), stop() {} };

  if (!stream.isTTY) {
    let lastPrint = 0;
    let printed = -1;
    const line = () =>
      `${options.label}: ${done}/${options.total} ${options.unit} (${rate().toFixed(1)} ${options.unit}/s${extra()})\n`;
    return {
      tick(n = 1, f) {
        done += n;
        if (f) fields = { ...fields, ...f };
        if (Date.now() - lastPrint > 5000) {
          lastPrint = Date.now();
          printed = done;
          stream.write(line());
        }
      },
      stop() {
        if (printed !== done) stream.write(line());
      },
    };
  }

  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${options.label} {bar} {percentage}% | {value}/{total} ${options.unit} | {rate} ${options.unit}/s | ETA {eta_formatted}{extra}`,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(options.total, 0, { rate: '0', extra: '' });
  return {
    tick(n = 1, f) {
      done += n;
      if (f) fields = { ...fields, ...f };
      bar.update(done, { rate: rate().toFixed(1), extra: extra() });
    },
    stop() {
      bar.stop();
    },
  };
}
