import { RERANK_POOL } from '../decode/consensus.js';
import type { BundleConfig, BundleGraph, BundleTensor } from './bundle-format.js';

const dims = (t: BundleTensor) => `[${t.dims.join(', ')}]`;
const rows = (ts: BundleTensor[]) =>
  ts.map((t) => `| \`${t.name}\` | ${t.type} | ${dims(t)} | ${t.description} |`).join('\n');

function graphSection(title: string, g: BundleGraph, intro: string): string {
  return `### ${title}: \`${g.file}\`

${intro}

| input | type | dims | |
| --- | --- | --- | --- |
${rows(g.inputs)}

| output | type | dims | |
| --- | --- | --- | --- |
${rows(g.outputs)}
`;
}

function u8s8(c: BundleConfig): string {
  const e = c.encoder.u8s8;
  if (e.emulation === 'none')
    return e.layers === 0
      ? ''
      : ` ${e.layers} of its int8 convolutions are written as exact float convolutions of integer values (the
activations minus their zero point, the int8 weights cast to float; exact while every sum stays under
2^24), then onnxruntime's requantization (the sum times its float32 scale, rounded half to even, plus the
zero point): the features onnxruntime's int8 kernels give, bit for bit, on a runtime that runs float
convolutions faster than int8 ones (onnxruntime-web spreads only its float convolutions over its threads).`;
  return ` Its int8 convolutions compute what onnxruntime's x86 AVX2 kernels compute, the features the
model was trained on: those kernels add the products of each pair of neighbouring inputs in 16 bits, with
saturation, where WebAssembly, ARM and VNNI CPUs compute exactly. ${e.layers} convolutions are computed as
exact float convolutions, with that saturation's correction for ${e.pairs} pairs of weights (${
    e.emulation === 'all'
      ? 'every pair that can saturate'
      : `every pair of the stem, and those that came near saturating on ${e.calibrationPhotos} training photos`
  }), so onnxruntime gives the server's features on every CPU. (Each requantization multiplies by its
scale in a Mul whose first input is the scale, which onnxruntime never folds into the convolution's
weights; a runtime that does would round differently, by a hair.)`;
}

/** The bundle's README: what each graph takes and gives, and how to run them from any onnxruntime. */
export function bundleReadme(c: BundleConfig): string {
  const p = c.preprocessing;
  const [h, w] = p.inputSize;
  const size = (name: string) => {
    const f = c.files.find((x) => x.name === name);
    return f ? `${(f.bytes / 1e6).toFixed(1)} MB` : '';
  };
  const stateList = c.decoder.states
    .map(
      (s) =>
        `\`${s.name}\` (${s.width}, ${s.init === 'start' ? 'from the start graph' : 'zeros at first'}${s.constant ? ', constant' : ''})`,
    )
    .join(', ');
  return `# captioner bundle: ${c.model.name}

A self-contained image captioner: ONNX graphs that any onnxruntime (Python, C#, Java, C++, the browser)
runs, and \`config.json\` with everything else (preprocessing, vocabulary, decoding defaults). Written by
\`captioner export\`; the captioner's browser entry point (\`captioner/browser\`) loads it as it is.

Model: ${c.model.architecture}${c.model.members > 1 ? `, an ensemble of ${c.model.members} (averaged inside the graphs)` : ''}; encoder ${c.encoder.source.name}; vocabulary ${c.vocabulary.tokens.length} ids.

| file | size | |
| --- | --- | --- |
| \`${c.encoder.file}\` | ${size(c.encoder.file)} | photo → feature vector |
${c.decoder.start ? `| \`${c.decoder.start.file}\` | ${size(c.decoder.start.file)} | feature vector → the decoder's first state |\n` : ''}| \`${c.decoder.step.file}\` | ${size(c.decoder.step.file)} | one word and the state → next-word log-probabilities and the next state |
${c.decoding.consensus ? `| \`${c.decoding.consensus.file}\` | ${size(c.decoding.consensus.file)} | the training photos' pooled vectors and captions, for consensus reranking |\n` : ''}| \`config.json\` | | preprocessing, vocabulary, decoding defaults, the graphs' inputs and outputs, file sha256s |

${c.decoder.weights === 'int8' ? 'The weights are stored as int8 (the decoder: with one float scale per column of a kernel, per row of the embedding) and dequantized inside the graphs (Cast, Mul). A runtime may redo that at every run (onnxruntime-web does), so `captioner/browser` folds them into float weights before it opens the graphs.\n' : ''}${c.decoder.integerProducts ? `The decoder multiplies with ${Array.isArray(c.decoder.integerProducts) ? `its int8 matrices ${c.decoder.integerProducts.join(', ')}` : 'its int8 matrices'} in integers, as the captioner's server does: the input quantized at each run (\`DynamicQuantizeLinear\`), its integer product written as a float \`MatMul\` of integer values (exact), then scaled. A product deeper than 518 rows, whose sums could pass 2^24, is onnxruntime's own operator \`DynamicQuantizeMatMul\` (domain \`com.microsoft\`) instead; other runtimes need that operator.\n` : ''}
## Preprocessing

1. Decode the photo, apply its EXIF orientation, flatten transparency on white, convert to 8-bit sRGB.
2. Squash it to ${w}×${h} (width × height; the aspect ratio is not kept and nothing is cropped). The
   captioner's server resamples with libvips's ${p.resampling}; another good downscaling filter gives
   nearly the same captions.
3. For each pixel and channel c (R, G, B): \`(value · ${p.scale.toPrecision(6)} − mean[c]) / std[c]\`, mean
   [${p.mean.join(', ')}], std [${p.std.join(', ')}].
4. Lay the planes out as [N, 3, ${h}, ${w}] (NCHW), float32.

## Graphs

${graphSection('Encoder', { ...c.encoder }, `The ImageNet classifier cut at its pooled features.${u8s8(c)}`)}
${c.decoder.start ? graphSection('Start', c.decoder.start, "Run once per photo, on the encoder's output.") : ''}
${graphSection('Step', c.decoder.step, `Run once per word, on every hypothesis at once (one row each). States: ${stateList}. After a step, each state \`s\` that is not constant becomes \`s.next\`.${c.decoder.constantsPerImage ? " The constant states have one row per image ('images'), the others one row per hypothesis ('rows'): the same number k of hypotheses for every image, an image's k rows next to each other, the images in the constants' order. To reorder or expand the hypotheses (beam search), copy the rows of the states that are not constant; the constants change only when the images do (with k = 1 any layout works: the constants then have a row per hypothesis)." : ' To reorder or expand the rows (beam search), copy the rows of every state.'}`)}
## Decoding

Feed \`<start>\` (id ${c.vocabulary.start}) first, then each chosen word, until \`<end>\` (id ${c.vocabulary.end}) or
${c.decoding.maxLength} words. Never choose \`<pad>\`, \`<start>\` or \`<unk>\` (ids ${c.vocabulary.pad}, ${c.vocabulary.start}, ${c.vocabulary.unk}), nor \`<end>\` first. The captioner uses
beam search (width ${c.decoding.beam}) and ranks finished captions by \`logProb / (words + 1)^${c.decoding.lengthPenalty}\`,
with two rules (\`config.json\` → \`decoding\`): no word that would repeat a word trigram already in the
caption, and no end right after a "dangling" word (\`danglingWords\`: "a", "the", "with", …; the last
word allowed, at the length limit, may not be one either). Words are joined with spaces, a lone "s"
joined to the word before it ("dog s" → "dog's").
${
  c.decoding.consensus
    ? `
Consensus reranking (\`decoding.consensus\`): the beam search keeps the ${RERANK_POOL} best (by score) of every
caption it could have ended (each live hypothesis followed by the end marker, where the rules allow it,
at every step; the search itself stops on its own k finished captions), and the captioner reorders them
by \`score + ${c.decoding.consensus.weight} · consensus${c.decoding.consensus.bleuWeight ? ` + ${c.decoding.consensus.bleuWeight} · bleu` : ''}\`, where consensus is the caption's mean CIDEr-D (coco-caption's, on its 0..10
scale, document frequencies over all the indexed captions) against the captions of each of the photo's
${c.decoding.consensus.k} most similar training photos (cosine of the pooled features)${c.decoding.consensus.bleuWeight ? ", and bleu its mean sentence BLEU-4 against each of those photos' captions (0..1; n-gram counts clipped by the most any one caption has, add-one smoothing above unigrams, the brevity penalty against the closest length)" : ''}. \`${c.decoding.consensus.file}\`: the 8 bytes
\`CAPCONS1\`, a little-endian uint32 n, n bytes of JSON (\`version\` 3, \`count\`, \`dim\`, \`k\`, \`weight\`, \`bleuWeight\`,
\`encoder\`, \`bits\`, \`levels\`, \`words\`, \`captions\`: each photo's number of captions, \`tokens\`), zero
bytes up to a multiple of 4, \`count\` float32 scales, \`count\` rows of codes, a zero byte up to a
multiple of 2, then \`tokens\` uint16 word ids. With \`bits\` 4 a row is ceil(dim / 2) bytes, the low
nibble first, each code an index into \`levels\` (int8 values); with 8, \`dim\` int8 values. Photo r's
unit-length vector is its row's values times scales[r]. The captions follow one another, each its
token ids (id i + 1 is \`words[i]\`: coco-caption's tokens, PTB-tokenized, lower-cased, punctuation
dropped, as CIDEr-D compares them) and a 0.
`
    : ''
}
## Python (onnxruntime, numpy, Pillow): greedy decoding, for brevity

\`\`\`python
import json
import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

cfg = json.load(open("config.json"))
pre, voc = cfg["preprocessing"], cfg["vocabulary"]
h, w = pre["inputSize"]

def preprocess(path):
    img = ImageOps.exif_transpose(Image.open(path)).convert("RGBA")
    white = Image.new("RGBA", img.size, (255, 255, 255, 255))
    img = Image.alpha_composite(white, img).convert("RGB").resize((w, h), Image.LANCZOS)
    x = (np.asarray(img, np.float32) * pre["scale"] - pre["mean"]) / pre["std"]
    return x.transpose(2, 0, 1)[None].astype(np.float32)  # [1, 3, h, w]

encoder = ort.InferenceSession("${c.encoder.file}")
step = ort.InferenceSession("${c.decoder.step.file}")
features = encoder.run(["${c.encoder.outputs[0].name}"], {"${c.encoder.inputs[0].name}": preprocess("photo.jpg")})[0]

states = {s["name"]: np.zeros((1, s["width"]), np.float32) for s in cfg["decoder"]["states"]}
${
  c.decoder.start
    ? `start = ort.InferenceSession("${c.decoder.start.file}")
names = [o.name for o in start.get_outputs()]
states.update(zip(names, start.run(names, {"${c.decoder.start.inputs[0].name}": features})))`
    : '# (no start graph: every state starts at zero)'
}

token, words = voc["start"], []
out_names = [o.name for o in step.get_outputs()]
for _ in range(cfg["decoding"]["maxLength"]):
    out = dict(zip(out_names, step.run(out_names, {"tokens": np.array([token], np.int32), **states})))
    logp = out["log_probs"][0]
    logp[[voc["pad"], voc["start"], voc["unk"]]] = -np.inf
    if not words:
        logp[voc["end"]] = -np.inf
    token = int(logp.argmax())
    if token == voc["end"]:
        break
    words.append(voc["tokens"][token])
    for s in cfg["decoder"]["states"]:
        if not s["constant"]:
            states[s["name"]] = out[s["name"] + ".next"]
print(" ".join(words).replace(" s ", "'s ").removesuffix(" s"))
\`\`\`

## C# and Java

The same three sessions and feeds: in C#, \`Microsoft.ML.OnnxRuntime\`'s \`InferenceSession\` with
\`NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(data, dims))\` (\`int\` for \`tokens\`); in
Java, \`ai.onnxruntime\`'s \`OrtEnvironment.getEnvironment().createSession(file)\` with
\`OnnxTensor.createTensor(env, FloatBuffer.wrap(data), shape)\` (\`IntBuffer\` for \`tokens\`). Inputs are
row-major; \`rows\` and \`N\` may be any count.
`;
}
