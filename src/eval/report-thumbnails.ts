import { join } from 'node:path';
import sharp from 'sharp';

export interface ThumbnailOptions {
  /** Longest side in pixels. Default 112. */
  size?: number;
  /** JPEG quality. Default 60. */
  quality?: number;
  /** Photos resized at once (sharp decodes on libuv's threads). Default 8. */
  concurrency?: number;
}

/**
 * Small JPEG thumbnails as data URIs, for a report that must stay one self-contained file: at 112 px and
 * quality 60 a Flickr8k photo is about 3–4 kB. A photo that cannot be read gets none (and is left out of
 * the map); the report shows its name instead.
 */
export async function makeThumbnails(
  imagesDir: string,
  images: readonly string[],
  options: ThumbnailOptions = {},
): Promise<Map<string, string>> {
  const size = options.size ?? 112;
  const quality = options.quality ?? 60;
  const concurrency = options.concurrency ?? 8;
  const thumbnails = new Map<string, string>();
  let next = 0;
  const worker = async () => {
    while (next < images.length) {
      const image = images[next++];
      try {
        const jpeg = await sharp(join(imagesDir, image), { failOn: 'none' })
          .rotate()
          .resize(size, size, { fit: 'inside', withoutEnlargement: true })
          .jpeg({ quality, mozjpeg: true })
          .toBuffer();
        thumbnails.set(image, `data:image/jpeg;base64,${jpeg.toString('base64')}`);
      } catch {
        // Unreadable: no thumbnail.
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, images.length) }, worker));
  // In the order given, whatever order the workers finished in.
  return new Map(images.filter((i) => thumbnails.has(i)).map((i) => [i, thumbnails.get(i)!]));
}
