/**
 * The one error type the product throws for expected failures. Each carries a gRPC status name, a
 * one-line message for the user, an optional operator hint, and whether retrying may help.
 * `common/grpc-status.ts` is the only place that maps errors to gRPC status codes.
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'FAILED_PRECONDITION',
  'ABORTED',
  'DEADLINE_EXCEEDED',
  'UNAVAILABLE',
  'RESOURCE_EXHAUSTED',
  'PERMISSION_DENIED',
  'CANCELLED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'ABORTED', 'RESOURCE_EXHAUSTED']);

export class TwopcError extends Error {
  override name = 'TwopcError';
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

export function invalidArgument(message: string, hint?: string): TwopcError {
  return new TwopcError('INVALID_ARGUMENT', message, { hint });
}

export function notFound(message: string, hint?: string): TwopcError {
  return new TwopcError('NOT_FOUND', message, { hint });
}

export function unavailable(message: string, cause?: unknown): TwopcError {
  return new TwopcError('UNAVAILABLE', message, { cause });
}

/** A short description of any thrown value, for logs and one-line CLI errors. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
