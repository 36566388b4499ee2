/** An image as the library accepts it: a file path, or the file's bytes. */
export type ImageInput = string | Buffer | Uint8Array;
