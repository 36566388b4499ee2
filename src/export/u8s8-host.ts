import { readFileSync } from 'node:fs';

/**
 * Whether this machine's onnxruntime computes int8 products with u8s8 saturation: on x86 CPUs without
 * VNNI its QLinearConv kernels add pairs of u8·s8 products in 16 bits (vpmaddubsw), which saturates
 * (see export/u8s8-emulation.ts); with AVX-VNNI or AVX512-VNNI (vpdpbusd) and on ARM the sums are exact.
 * The encoder's features, and so the captions, differ by a hair between the two kinds of machine; an
 * exported bundle reproduces, by default, the kind of machine it was exported on (so the page that
 * `captioner serve` gives writes that server's captions).
 */
export function hostSaturatesU8S8(): boolean {
  if (process.arch !== 'x64') return false;
  let cpuinfo: string;
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return true; // not Linux: assume the common AVX2 case
  }
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '';
  return !/\b(avx512_vnni|avx_vnni)\b/.test(flags);
}
