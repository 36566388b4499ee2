import { CaptionerError } from '../util/errors.js';
import { fromFloat16Bits, toFloat16Bits } from '../util/float16.js';

/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header naming
 * each tensor's dtype, shape and byte range, then the raw little-endian data. Readable by PyTorch and
 * HF tools. We store F32, F16 or Q8 and always hand back Float32Arrays.
 *
 * Q8 is our own use of standard dtypes, for a small bundled model: each matrix is stored as I8 with
 * one F32 scale per row in a companion tensor `<name>.q8_scale` (value = int8 · scale, scale = the
 * row's largest magnitude / 127); vectors stay F32. A quarter of the F32 size, and the rounding error
 * (at most half a step per weight) does not change what the decoder writes in practice.
 */
export type StoredDtype = 'F32' | 'F16' | 'Q8';

const SCALE_SUFFIX = '.q8_scale';

interface Part {
  name: string;
  dtype: 'F32' | 'F16' | 'I8';
  shape: number[];
  bytes: Uint8Array;
}

function encodeTensor(t: NamedTensor, dtype: StoredDtype): Part[] {
  if (dtype === 'F32') return [{ name: t.name, dtype, shape: t.shape, bytes: float32Bytes(t.data) }];
  if (dtype === 'F16') return [{ name: t.name, dtype, shape: t.shape, bytes: float16Bytes(t.data) }];
  if (t.shape.length !== 2) return encodeTensor(t, 'F32');
  const [rows, cols] = t.shape;
  const q = new Int8Array(rows * cols);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let c = 0; c < cols; c++) max = Math.max(max, Math.abs(t.data[r * cols + c]));
    const scale = max / 127 || 1;
    scales[r] = scale;
    for (let c = 0; c < cols; c++)
      q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(t.data[r * cols + c] / scale)));
  }
  return [
    { name: t.name, dtype: 'I8', shape: t.shape, bytes: new Uint8Array(q.buffer) },
    { name: t.name + SCALE_SUFFIX, dtype: 'F32', shape: [rows], bytes: float32Bytes(scales) },
  ];
}

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, { dtype: StoredDtype; shape: number[]; data: Float32Array }>;
  metadata: Record<string, string>;
}

export function encodeSafetensors(
  tensors: NamedTensor[],
  options: { dtype?: StoredDtype; metadata?: Record<string, string> } = {},
): Uint8Array[] {
  const dtype = options.dtype ?? 'F32';
  const header: Record<string, unknown> = {};
  if (options.metadata) header.__metadata__ = options.metadata;
  const parts: Part[] = [];
  for (const t of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length)
      throw new Error(`${t.name}: shape ${t.shape} does not hold ${t.data.length} values`);
    parts.push(...encodeTensor(t, dtype));
  }
  let offset = 0;
  for (const p of parts) {
    header[p.name] = { dtype: p.dtype, shape: p.shape, data_offsets: [offset, offset + p.bytes.length] };
    offset += p.bytes.length;
  }
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return [prefix, json, ...parts.map((p) => p.bytes)];
}

export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors file'): SafetensorsFile {
  const fail = (why: string): never => {
    throw new CaptionerError('MODEL_WEIGHTS', `${source}: ${why}`);
  };
  if (bytes.length < 8) fail('too short to be safetensors');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) fail('header length is past the end of the file');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8')) as Record<
      string,
      unknown
    >;
  } catch {
    return fail('header is not JSON');
  }
  const dataStart = 8 + headerLength;
  const tensors: SafetensorsFile['tensors'] = new Map();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets } = entry as {
      dtype: string;
      shape: number[];
      data_offsets: number[];
    };
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'I8')
      fail(`${name} has dtype ${dtype}; only F32, F16 and I8 (with ${SCALE_SUFFIX}) are supported`);
    const [begin, end] = data_offsets;
    const size = shape.reduce((a, b) => a * b, 1);
    const width = dtype === 'F32' ? 4 : dtype === 'F16' ? 2 : 1;
    if (end - begin !== size * width || dataStart + end > bytes.length)
      fail(`${name}: byte range does not match its shape ${JSON.stringify(shape)}`);
    const raw = bytes.subarray(dataStart + begin, dataStart + end);
    if (dtype === 'I8') {
      const data = new Float32Array(size);
      const q = new Int8Array(raw.buffer, raw.byteOffset, size);
      for (let i = 0; i < size; i++) data[i] = q[i];
      tensors.set(name, { dtype: 'Q8', shape, data });
    } else {
      const data = dtype === 'F32' ? fromFloat32Bytes(raw, size) : fromFloat16Bytes(raw, size);
      tensors.set(name, { dtype: dtype as StoredDtype, shape, data });
    }
  }
  // Scale the int8 matrices by their rows' scales; the scales themselves are not model tensors.
  for (const [name, t] of tensors) {
    if (t.dtype !== 'Q8') continue;
    const scales = tensors.get(name + SCALE_SUFFIX);
    if (!scales || t.shape.length !== 2 || scales.data.length !== t.shape[0])
      fail(`${name} is int8 without a ${name}${SCALE_SUFFIX} of one value per row`);
    const cols = t.shape[1];
    for (let i = 0; i < t.data.length; i++) t.data[i] *= scales!.data[Math.floor(i / cols)];
    tensors.delete(name + SCALE_SUFFIX);
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string> | undefined) ?? {} };
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function float32Bytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  if (littleEndian) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  else {
    const view = new DataView(out.buffer);
    data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  }
  return out;
}

function fromFloat32Bytes(raw: Uint8Array, size: number): Float32Array {
  const out = new Float32Array(size);
  if (littleEndian) new Uint8Array(out.buffer).set(raw);
  else {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < size; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

function float16Bytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setUint16(i * 2, toFloat16Bits(data[i]), true);
  return out;
}

function fromFloat16Bytes(raw: Uint8Array, size: number): Float32Array {
  const out = new Float32Array(size);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < size; i++) out[i] = fromFloat16Bits(view.getUint16(i * 2, true));
  return out;
}
