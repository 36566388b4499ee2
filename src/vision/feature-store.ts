import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { endianness } from 'node:os';
import { writeJsonAtomic } from '../util/atomic-write.js';
import { lockFolder } from '../util/folder-lock.js';
import { CaptionerError, errnoCode } from '../util/errors.js';
import { identityDifference, type EncoderIdentity } from './encoder-identity.js';
import { DEFAULT_ENCODER, findEncoderSpec } from './encoders.js';
import { decodeFloat16, encodeFloat16 } from '../util/float16.js';

export type { EncoderIdentity } from './encoder-identity.js';

/*
 * Layout: <workDir>/features/<encoder>/
 *   pooled.f32    header, then one record per image: float32 × pooledDim
 *   spatial.f16   (with --spatial) header, then one record per image: float16 × C×H×W, layout [C][H][W]
 *   manifest.json whether the run finished, and the images that could not be read
 * A data file is "CAPFEAT1", u32 header length, u32 0, the JSON header padded to 8 bytes, then records:
 *   u32 RECORD_MAGIC, u16 name length, u16 0, name (UTF-8, padded to 4), payload, u32 checksum.
 * Records are only ever appended, so a crash leaves at worst a torn tail: the checksum finds it and a
 * resumed run truncates it away.
 */

export interface PooledFeatures {
  encoder: EncoderIdentity;
  dim: number;
  images: string[];
  get(image: string): Float32Array | undefined;
}

export interface SpatialFeatures {
  encoder: EncoderIdentity;
  /** [C, H, W] */
  dims: [number, number, number];
  images: string[];
  /** The map of one image as float32, layout [C][H][W]. */
  read(image: string): Promise<Float32Array | undefined>;
  /** The same as stored, float16 bits (into `into` when given): half the memory of `read`. */
  readBits(image: string, into?: Uint16Array): Promise<Uint16Array | undefined>;
  close(): Promise<void>;
}

export interface SkippedImage {
  image: string;
  code: string;
  reason: string;
}

export interface StoreManifest {
  version: 1;
  encoder: EncoderIdentity;
  imagesDir: string;
  complete: boolean;
  spatialComplete: boolean;
  pooledCount: number;
  spatialCount: number;
  skipped: SkippedImage[];
  updatedAt: string;
}

interface FileHeader {
  format: 'captioner-features';
  version: 1;
  kind: 'pooled' | 'spatial';
  dtype: 'float32' | 'float16';
  shape: number[];
  encoder: EncoderIdentity;
  imagesDir: string;
}

const FILE_MAGIC = 'CAPFEAT1';
const RECORD_MAGIC = 0x43455246; // "FREC" little-endian
const POOLED_FILE = 'pooled.f32';
const SPATIAL_FILE = 'spatial.f16';
const MANIFEST_FILE = 'manifest.json';

/**
 * Which view of the photos a store holds: the photos as they are (undefined), or each mirrored left to
 * right ('mirrored': more training images for `train --augment mirror`, stored beside the first).
 */
export type FeatureView = 'mirrored';

/** The folder of an encoder's store: the registry name, or a model file's base name (+ `.mirrored`). */
export function featureStoreDir(workDir: string, encoder = DEFAULT_ENCODER, view?: FeatureView): string {
  const name = findEncoderSpec(encoder)?.name ?? basename(encoder, extname(encoder));
  return join(resolve(workDir), 'features', view ? `${name}.${view}` : name);
}

const pad4 = (n: number) => (n + 3) & ~3;
const pad8 = (n: number) => (n + 7) & ~7;

const LITTLE_ENDIAN = endianness() === 'LE';

function checksum(buf: Buffer, start: number, end: number): number {
  // FNV-1a over 32-bit words (lengths are multiples of 4). Through a Uint32Array view where the words
  // are aligned (a store of spatial maps is ~1 GB: readUInt32LE word by word took seconds).
  let h = 0x811c9dc5;
  if (LITTLE_ENDIAN && (buf.byteOffset + start) % 4 === 0) {
    const words = new Uint32Array(buf.buffer, buf.byteOffset + start, (end - start) / 4);
    for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  } else for (let i = start; i < end; i += 4) h = Math.imul(h ^ buf.readUInt32LE(i), 0x01000193);
  return h >>> 0;
}

function encodeHeader(header: FileHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(16 + pad8(json.length), 0x20);
  out.write(FILE_MAGIC, 0, 'latin1');
  out.writeUInt32LE(json.length, 8);
  out.writeUInt32LE(0, 12);
  json.copy(out, 16);
  return out;
}

function payloadBytes(header: FileHeader): number {
  const count = header.shape.reduce((a, b) => a * b, 1);
  return pad4(count * (header.dtype === 'float32' ? 4 : 2));
}

function encodeRecord(name: string, payload: Uint8Array, size: number): Buffer {
  const nameBytes = Buffer.from(name);
  const nameLen = pad4(nameBytes.length);
  const out = Buffer.alloc(8 + nameLen + size + 4);
  out.writeUInt32LE(RECORD_MAGIC, 0);
  out.writeUInt16LE(nameBytes.length, 4);
  nameBytes.copy(out, 8);
  out.set(payload, 8 + nameLen);
  out.writeUInt32LE(checksum(out, 8, 8 + nameLen + size), 8 + nameLen + size);
  return out;
}

/** Reads a data file's header; undefined when the file is missing. */
async function readHeader(handle: FileHandle, path: string): Promise<{ header: FileHeader; end: number }> {
  const start = Buffer.alloc(16);
  const { bytesRead } = await handle.read(start, 0, 16, 0);
  if (bytesRead < 16 || start.toString('latin1', 0, 8) !== FILE_MAGIC)
    throw new CaptionerError('FEATURES_INVALID', `${path} is not a captioner feature file`);
  const length = start.readUInt32LE(8);
  const json = Buffer.alloc(length);
  await handle.read(json, 0, length, 16);
  try {
    return { header: JSON.parse(json.toString()) as FileHeader, end: 16 + pad8(length) };
  } catch {
    throw new CaptionerError('FEATURES_INVALID', `${path} has a damaged header`);
  }
}

interface ScannedRecord {
  name: string;
  /** File offset of the payload. */
  offset: number;
}

/**
 * Walks the records of an open data file in chunks; stops at the first torn or damaged record.
 * `onPayload` sees each good payload (a view valid only during the call).
 */
async function scanRecords(
  handle: FileHandle,
  path: string,
  onPayload?: (name: string, payload: Buffer) => void,
): Promise<{ header: FileHeader; records: ScannedRecord[]; validEnd: number; fileSize: number }> {
  const { header, end } = await readHeader(handle, path);
  const size = payloadBytes(header);
  const fileSize = (await handle.stat()).size;
  const records: ScannedRecord[] = [];
  const chunkSize = Math.max(8 << 20, 4 * (size + 1024));
  let buf = Buffer.alloc(0);
  let bufStart = end; // file offset of buf[0]
  let pos = end; // file offset of the next record
  let eof = false;
  for (;;) {
    // Make sure a whole record (with a name of up to 64 KiB) is in the buffer, unless at end of file.
    const need = 8 + 65536 + size + 4;
    if (!eof && bufStart + buf.length - pos < need) {
      const keep = buf.subarray(pos - bufStart);
      const more = Buffer.allocUnsafe(chunkSize); // only the bytes read are used
      const { bytesRead } = await handle.read(more, 0, chunkSize, bufStart + buf.length);
      if (bytesRead === 0) eof = true;
      buf = Buffer.concat([keep, more.subarray(0, bytesRead)]);
      bufStart = pos;
      if (bytesRead > 0) continue;
    }
    const at = pos - bufStart;
    if (at + 8 > buf.length || buf.readUInt32LE(at) !== RECORD_MAGIC) break;
    const nameLen = buf.readUInt16LE(at + 4);
    const total = 8 + pad4(nameLen) + size + 4;
    if (at + total > buf.length) break;
    const payloadAt = at + 8 + pad4(nameLen);
    if (checksum(buf, at + 8, payloadAt + size) !== buf.readUInt32LE(payloadAt + size)) break;
    const name = buf.toString('utf8', at + 8, at + 8 + nameLen);
    records.push({ name, offset: bufStart + payloadAt });
    onPayload?.(name, buf.subarray(payloadAt, payloadAt + size));
    pos += total;
  }
  return { header, records, validEnd: pos, fileSize };
}

async function readManifest(dir: string): Promise<StoreManifest | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as StoreManifest;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw new CaptionerError(
      'FEATURES_INVALID',
      `${join(dir, MANIFEST_FILE)} is damaged: rerun captioner features`,
    );
  }
}

/** The sha256 the encoder has now, when it can be known without loading it (registry, or a file path). */
async function currentEncoderSha(encoder: string | undefined): Promise<string | undefined> {
  const spec = findEncoderSpec(encoder ?? DEFAULT_ENCODER);
  if (spec) return spec.sha256;
  try {
    return createHash('sha256')
      .update(await readFile(resolve(encoder!)))
      .digest('hex');
  } catch {
    return undefined; // the model is gone: the stored features are still what they are
  }
}

async function openCompleteStore(
  workDir: string,
  encoder: string | undefined,
  spatial: boolean,
  view?: FeatureView,
) {
  const dir = featureStoreDir(workDir, encoder, view);
  const manifest = await readManifest(dir);
  const run = `captioner features --data <images> --out ${workDir}${encoder ? ` --encoder ${encoder}` : ''}${spatial ? ' --spatial' : ''}${view ? ' --mirror' : ''}`;
  if (!manifest) throw new CaptionerError('FEATURES_MISSING', `no features in ${dir}: run ${run}`);
  if (!(spatial ? manifest.spatialComplete : manifest.complete))
    throw new CaptionerError(
      'FEATURES_INCOMPLETE',
      `the features in ${dir} are unfinished: run ${run} to resume`,
    );
  const sha = await currentEncoderSha(encoder);
  if (sha && sha !== manifest.encoder.sha256)
    throw new CaptionerError(
      'FEATURES_STALE',
      `the features in ${dir} come from another version of the encoder (sha256 ${manifest.encoder.sha256.slice(0, 12)}…, now ${sha.slice(0, 12)}…): run ${run}`,
    );
  return { dir, manifest };
}

/** Reads the pooled vectors that `captioner features` stored in workDir (default encoder when omitted). */
export async function readPooledFeatures(
  workDir: string,
  encoder?: string,
  view?: FeatureView,
): Promise<PooledFeatures> {
  const { dir, manifest } = await openCompleteStore(workDir, encoder, false, view);
  const path = join(dir, POOLED_FILE);
  const handle = await open(path, 'r');
  try {
    const index = new Map<string, Float32Array>();
    let dim = 0;
    const { header } = await scanRecords(handle, path, (name, payload) => {
      dim ||= payload.length / 4;
      const vector = new Float32Array(dim);
      new Uint8Array(vector.buffer).set(payload.subarray(0, dim * 4));
      index.set(name, vector); // a later record of the same image wins
    });
    if (identityDifference(header.encoder, manifest.encoder))
      throw new CaptionerError(
        'FEATURES_STALE',
        `${path} does not match its manifest: rerun captioner features`,
      );
    dim = header.shape[0];
    return {
      encoder: header.encoder,
      dim,
      images: [...index.keys()].sort(),
      get: (image) => index.get(image),
    };
  } finally {
    await handle.close();
  }
}

/** Opens the spatial maps stored with `captioner features --spatial` (read one image at a time). */
export async function openSpatialFeatures(
  workDir: string,
  encoder?: string,
  view?: FeatureView,
): Promise<SpatialFeatures> {
  const { dir } = await openCompleteStore(workDir, encoder, true, view);
  const path = join(dir, SPATIAL_FILE);
  const handle = await open(path, 'r');
  try {
    const { header, records } = await scanRecords(handle, path);
    const offsets = new Map(records.map((r) => [r.name, r.offset]));
    const count = header.shape.reduce((a, b) => a * b, 1);
    const readBits = async (image: string, into = new Uint16Array(count)) => {
      const offset = offsets.get(image);
      if (offset === undefined) return undefined;
      await handle.read(new Uint8Array(into.buffer, into.byteOffset, count * 2), 0, count * 2, offset);
      return into;
    };
    return {
      encoder: header.encoder,
      dims: header.shape as [number, number, number],
      images: [...offsets.keys()].sort(),
      readBits,
      async read(image) {
        const bits = await readBits(image);
        return bits && decodeFloat16(bits);
      },
      close: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

export interface OpenStoreOptions {
  imagesDir: string;
  encoder: EncoderIdentity;
  /** [C, H, W] when spatial maps are to be stored. */
  spatialDims?: [number, number, number];
  /** The photos mirrored: a store of its own beside the photos' (see FeatureView). */
  view?: FeatureView;
}

/**
 * A store opened for writing: existing records are kept when they were made by the same encoder with the
 * same preprocessing from the same image folder (resume); otherwise the store is rebuilt.
 */
export class FeatureStoreWriter {
  /** Why an existing store was discarded, if it was. */
  rebuilt?: string;
  private pooledDone = new Set<string>();
  private spatialDone = new Set<string>();
  private pooled?: FileHandle;
  private spatial?: FileHandle;
  private pooledBytes = 0;
  private spatialBytes = 0;
  private lastSync = Date.now();
  private appended = 0;
  /** Whether an earlier --spatial run finished, read before this run overwrites the manifest. */
  private spatialWasComplete = false;
  /** Releases the folder lock (see lockFolder); set while the store is open. */
  private unlock?: () => Promise<void>;

  private constructor(
    readonly dir: string,
    private readonly options: OpenStoreOptions,
  ) {}

  static async open(workDir: string, options: OpenStoreOptions): Promise<FeatureStoreWriter> {
    const store = new FeatureStoreWriter(
      featureStoreDir(workDir, options.encoder.name, options.view),
      options,
    );
    await mkdir(store.dir, { recursive: true });
    store.unlock = await lockFolder(store.dir, '`captioner features`');
    try {
      await store.prepare(options);
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** Opens or resumes the data files and writes an incomplete manifest. */
  private async prepare(options: OpenStoreOptions): Promise<void> {
    this.spatialWasComplete = !!(await readManifest(this.dir).catch(() => undefined))?.spatialComplete;
    const pooledHeader: FileHeader = {
      format: 'captioner-features',
      version: 1,
      kind: 'pooled',
      dtype: 'float32',
      shape: [options.encoder.pooledDim],
      encoder: options.encoder,
      imagesDir: resolve(options.imagesDir),
    };
    const opened = await this.openFile(POOLED_FILE, pooledHeader, this.pooledDone);
    if (opened.stale) {
      // Spatial maps from another encoder or image set are stale too.
      this.spatialWasComplete = false;
      await rm(join(this.dir, SPATIAL_FILE), { force: true });
      await rm(join(this.dir, MANIFEST_FILE), { force: true });
    }
    this.pooled = opened.handle;
    if (options.spatialDims) {
      const spatialHeader: FileHeader = {
        ...pooledHeader,
        kind: 'spatial',
        dtype: 'float16',
        shape: [...options.spatialDims],
      };
      const s = await this.openFile(SPATIAL_FILE, spatialHeader, this.spatialDone);
      this.spatial = s.handle;
    }
    await this.writeManifest(false, []);
  }

  /** Opens (resume) or creates one data file; returns whether an existing file was discarded. */
  private async openFile(file: string, header: FileHeader, done: Set<string>) {
    const path = join(this.dir, file);
    let stale: string | undefined;
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, 'r+');
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
    }
    if (handle) {
      try {
        const scanned = await scanRecords(handle, path);
        const old = scanned.header;
        stale =
          old.version !== header.version || old.dtype !== header.dtype
            ? `format ${old.version}/${old.dtype}`
            : (identityDifference(old.encoder, header.encoder) ??
              (old.imagesDir !== header.imagesDir
                ? `images from ${old.imagesDir}, now ${header.imagesDir}`
                : JSON.stringify(old.shape) !== JSON.stringify(header.shape)
                  ? `shape ${JSON.stringify(old.shape)}, now ${JSON.stringify(header.shape)}`
                  : undefined));
        if (!stale) {
          for (const r of scanned.records) done.add(r.name);
          // Cut a torn tail left by a crash, then append after the last good record.
          if (scanned.validEnd < scanned.fileSize) await handle.truncate(scanned.validEnd);
          if (file === POOLED_FILE) this.pooledBytes = scanned.validEnd;
          else this.spatialBytes = scanned.validEnd;
          return { handle, stale: undefined };
        }
      } catch (error) {
        if (!(error instanceof CaptionerError)) throw error;
        stale = error.message;
      }
      await handle.close();
      this.rebuilt = `${file}: ${stale}`;
    }
    handle = await open(path, 'w+');
    const bytes = encodeHeader(header);
    await handle.write(bytes, 0, bytes.length, 0);
    if (file === POOLED_FILE) this.pooledBytes = bytes.length;
    else this.spatialBytes = bytes.length;
    return { handle, stale };
  }

  /** Whether the image still needs computing (its pooled vector, or its map when maps are stored). */
  needs(image: string): boolean {
    return !this.pooledDone.has(image) || (this.spatial !== undefined && !this.spatialDone.has(image));
  }

  get storedCount(): number {
    return this.pooledDone.size;
  }

  /** Appends one batch; `spatial` is required when the store keeps maps. */
  async append(entries: { image: string; pooled: Float32Array; spatial?: Float32Array }[]): Promise<void> {
    const dim = this.options.encoder.pooledDim;
    const pooledRecords: Buffer[] = [];
    const spatialRecords: Buffer[] = [];
    for (const e of entries) {
      if (e.pooled.length !== dim) throw new Error(`${e.image}: ${e.pooled.length} values, expected ${dim}`);
      if (!this.pooledDone.has(e.image))
        pooledRecords.push(
          encodeRecord(e.image, new Uint8Array(e.pooled.buffer, e.pooled.byteOffset, dim * 4), pad4(dim * 4)),
        );
      if (this.spatial && !this.spatialDone.has(e.image)) {
        if (!e.spatial) throw new Error(`${e.image}: no spatial map`);
        const bits = encodeFloat16(e.spatial);
        spatialRecords.push(encodeRecord(e.image, new Uint8Array(bits.buffer), pad4(bits.length * 2)));
      }
    }
    if (pooledRecords.length)
      this.pooledBytes += await appendAll(this.pooled!, pooledRecords, this.pooledBytes);
    if (spatialRecords.length)
      this.spatialBytes += await appendAll(this.spatial!, spatialRecords, this.spatialBytes);
    this.appended += pooledRecords.length;
    for (const e of entries) {
      this.pooledDone.add(e.image);
      if (this.spatial) this.spatialDone.add(e.image);
    }
    // fsync now and then: a crash loses at most a few seconds of work, never the store.
    if (Date.now() - this.lastSync > 5000) {
      this.lastSync = Date.now();
      await this.pooled!.sync();
      await this.spatial?.sync();
    }
  }

  /** Flushes, records the outcome in manifest.json and closes the files. */
  async finish(complete: boolean, skipped: SkippedImage[]): Promise<StoreManifest> {
    await this.pooled?.sync();
    await this.spatial?.sync();
    const manifest = await this.writeManifest(complete, skipped);
    await this.close();
    return manifest;
  }

  async close(): Promise<void> {
    await this.pooled?.close();
    await this.spatial?.close();
    this.pooled = this.spatial = undefined;
    await this.unlock?.();
    this.unlock = undefined;
  }

  /** Bytes on disk: pooled, spatial. */
  async sizes(): Promise<{ pooled: number; spatial: number }> {
    const size = (f: string) =>
      stat(join(this.dir, f)).then(
        (s) => s.size,
        () => 0,
      );
    return { pooled: await size(POOLED_FILE), spatial: await size(SPATIAL_FILE) };
  }

  private async writeManifest(complete: boolean, skipped: SkippedImage[]): Promise<StoreManifest> {
    const manifest: StoreManifest = {
      version: 1,
      encoder: this.options.encoder,
      imagesDir: resolve(this.options.imagesDir),
      complete,
      // Maps from an earlier --spatial run stay valid when this run did not ask for them.
      spatialComplete: this.spatial ? complete : complete && this.spatialWasComplete && this.appended === 0,
      pooledCount: this.pooledDone.size,
      spatialCount: this.spatialDone.size,
      skipped,
      updatedAt: new Date().toISOString(),
    };
    await writeJsonAtomic(join(this.dir, MANIFEST_FILE), manifest);
    return manifest;
  }
}

async function appendAll(handle: FileHandle, records: Buffer[], position: number): Promise<number> {
  const data = Buffer.concat(records);
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
  return data.length;
}
