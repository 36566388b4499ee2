/**
 * An error meant for the user: a one-line message and a stable code that the CLI and the HTTP API map
 * to exit codes and status codes. Anything else that escapes is a bug and is shown with its stack.
 */
export class CaptionerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CaptionerError';
    this.code = code;
  }
}

export function isCaptionerError(error: unknown): error is CaptionerError {
  return error instanceof CaptionerError;
}

/** Node's errno code of a failed file operation, if it is one. */
export function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;
}
