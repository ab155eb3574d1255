/**
 * `--replica URL`: `file://DIR` (relative to the working directory unless absolute) or
 * `s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION&forcePathStyle=true|false`. Parsed and checked
 * once, at start-up; a bad URL is one clear INVALID_ARGUMENT, not a failure at the first upload.
 */
import path from 'node:path';
import { invalidArgument } from '../../common/errors.ts';
import { FileReplicaClient } from './file.ts';
import type { ReplicaClient } from './replica.ts';
import type { S3ReplicaConfig } from './s3.ts';

export type ReplicaLocation =
  { readonly kind: 'file'; readonly dir: string } | { readonly kind: 's3'; readonly config: S3ReplicaConfig };

const S3_PARAMS = ['endpoint', 'region', 'forcePathStyle'] as const;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const EXAMPLES =
  'e.g. file://data/replica or s3://my-bucket/twopc?endpoint=http://127.0.0.1:9000&region=us-east-1';

export function parseReplicaUrl(raw: string, flag = '--replica'): ReplicaLocation {
  if (raw.startsWith('file://')) {
    const dir = raw.slice('file://'.length);
    if (dir === '') throw invalidArgument(`${flag}: "${raw}" names no directory`, EXAMPLES);
    return Object.freeze({ kind: 'file', dir: path.resolve(dir) });
  }
  if (!raw.startsWith('s3://'))
    throw invalidArgument(`${flag}: "${raw}" is not a file:// or s3:// URL`, EXAMPLES);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidArgument(`${flag}: "${raw}" is not a valid URL`, EXAMPLES);
  }
  const bucket = url.host;
  if (!BUCKET.test(bucket))
    throw invalidArgument(
      `${flag}: "${bucket}" is not an S3 bucket name`,
      '3-63 lowercase letters, digits, "." or "-"',
    );
  // From the raw text: URL would resolve "a/../b" to "b", silently changing the prefix.
  const rawPath = /^s3:\/\/[^/?#]*([^?#]*)/.exec(raw)?.[1] ?? '';
  const parts = rawPath.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '.' || p === '..'))
    throw invalidArgument(`${flag}: the prefix may not contain . or ..`);
  for (const key of url.searchParams.keys()) {
    if (!(S3_PARAMS as readonly string[]).includes(key))
      throw invalidArgument(`${flag}: unknown parameter "${key}"`, `known: ${S3_PARAMS.join(', ')}`);
  }
  const endpoint = url.searchParams.get('endpoint') ?? undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/]+\/?$/.test(endpoint))
    throw invalidArgument(`${flag}: endpoint "${endpoint}" is not http(s)://HOST[:PORT]`);
  const pathStyle = url.searchParams.get('forcePathStyle') ?? 'true';
  if (pathStyle !== 'true' && pathStyle !== 'false')
    throw invalidArgument(`${flag}: forcePathStyle must be true or false`);
  const region =
    url.searchParams.get('region') ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  return Object.freeze({
    kind: 's3',
    config: Object.freeze({
      bucket,
      prefix: parts.length === 0 ? '' : `${parts.join('/')}/`,
      ...(endpoint === undefined ? {} : { endpoint: endpoint.replace(/\/$/, '') }),
      region,
      forcePathStyle: pathStyle === 'true',
    }),
  });
}

/** Opens the backend. The AWS SDK is loaded only for an s3:// replica (it takes a while to load). */
export async function openReplicaClient(
  location: ReplicaLocation,
  s3Overrides: Partial<S3ReplicaConfig> = {},
): Promise<ReplicaClient> {
  if (location.kind === 'file') return new FileReplicaClient(location.dir);
  const { S3ReplicaClient } = await import('./s3.ts');
  return new S3ReplicaClient({ ...location.config, ...s3Overrides });
}
