/**
 * The `s3://BUCKET/PREFIX` replica, through @aws-sdk/client-s3 v3. Works with AWS S3, MinIO, R2 and
 * s3rver: path-style addressing, checksums only where S3 requires them (with streaming checksums
 * some stores keep the aws-chunked framing inside the object: silent corruption), whole Buffer
 * bodies, and listing with ListObjects (v1) and `Marker`, which needs no continuation token (s3rver
 * cannot encrypt one under OpenSSL 3, so ListObjectsV2 fails there on any truncated page).
 * Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles…).
 *
 * The SDK's own retries are off: the shipper retries with its own capped backoff and knows when to
 * give up; a request is bounded by `requestTimeoutMs`.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { describeError, TwopcError } from '../../common/errors.ts';
import type { ReplicaClient, ReplicaObject } from './replica.ts';

export interface S3ReplicaConfig {
  readonly bucket: string;
  /** Key prefix inside the bucket, without leading slash; '' or ending in '/'. */
  readonly prefix: string;
  /** e.g. http://127.0.0.1:9000 for MinIO or s3rver; absent = AWS. */
  readonly endpoint?: string;
  readonly region: string;
  /** Default true: bucket in the path, as MinIO and s3rver need. */
  readonly forcePathStyle: boolean;
  /** Bound of one request (default `S3_REQUEST_TIMEOUT_MS_DEFAULT`). */
  readonly requestTimeoutMs?: number;
  /** Keys per ListObjects page (default 1000, S3's maximum); small values exercise paging in tests. */
  readonly listPageKeysMax?: number;
}

/** A put of the largest snapshot must fit in it; a dead endpoint is noticed sooner by connect errors. */
export const S3_REQUEST_TIMEOUT_MS_DEFAULT = 30_000;
const listPageKeysMaxDefault = 1_000;
/** Bounds one `list`: about 50 MB of key names in memory. */
const listKeysMax = 1_000_000;

const PERMANENT_ERRORS: ReadonlySet<string> = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AllAccessDisabled',
  'InvalidBucketName',
  'CredentialsProviderError',
]);

export class S3ReplicaClient implements ReplicaClient {
  readonly url: string;
  private readonly config: S3ReplicaConfig;
  private readonly s3: S3Client;

  constructor(config: S3ReplicaConfig) {
    this.config = Object.freeze({ ...config });
    const query = config.endpoint === undefined ? '' : `?endpoint=${config.endpoint}`;
    this.url = `s3://${config.bucket}/${config.prefix}${query}`;
    this.s3 = new S3Client({
      region: config.region,
      ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
      forcePathStyle: config.forcePathStyle,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1,
    });
  }

  async put(key: string, body: Buffer, signal?: AbortSignal): Promise<void> {
    await this.call('put', key, signal, (abortSignal) =>
      this.s3.send(
        new PutObjectCommand({
          Bucket: this.config.bucket,
          Key: this.config.prefix + key,
          Body: body,
          ContentLength: body.length,
          ContentType: 'application/octet-stream',
        }),
        { abortSignal },
      ),
    );
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    try {
      return await this.call('get', key, signal, async (abortSignal) => {
        const out = await this.s3.send(
          new GetObjectCommand({ Bucket: this.config.bucket, Key: this.config.prefix + key }),
          { abortSignal },
        );
        if (out.Body === undefined) return Buffer.alloc(0);
        return Buffer.from(await out.Body.transformToByteArray());
      });
    } catch (err) {
      if (err instanceof NoSuchKey) return undefined;
      throw err;
    }
  }

  async list(prefix: string, signal?: AbortSignal): Promise<ReplicaObject[]> {
    const out: ReplicaObject[] = [];
    const full = this.config.prefix + prefix;
    let marker: string | undefined;
    for (;;) {
      const page = await this.call('list', prefix, signal, (abortSignal) =>
        this.s3.send(
          new ListObjectsCommand({
            Bucket: this.config.bucket,
            Prefix: full,
            MaxKeys: this.config.listPageKeysMax ?? listPageKeysMaxDefault,
            ...(marker === undefined ? {} : { Marker: marker }),
          }),
          { abortSignal },
        ),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        out.push({ key: o.Key.slice(this.config.prefix.length), size: o.Size ?? 0 });
      }
      const last = page.Contents?.at(-1)?.Key;
      if (!page.IsTruncated || last === undefined) break;
      if (out.length > listKeysMax)
        throw new TwopcError(
          'RESOURCE_EXHAUSTED',
          `replica ${this.url}: more than ${listKeysMax} objects under ${prefix}`,
          {
            hint: 'lower the retention so old generations are deleted',
          },
        );
      marker = last;
    }
    return out;
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    await this.call('delete', key, signal, (abortSignal) =>
      this.s3.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.config.prefix + key }), {
        abortSignal,
      }),
    );
  }

  close(): void {
    this.s3.destroy();
  }

  private async call<T>(
    op: string,
    key: string,
    signal: AbortSignal | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    signal?.throwIfAborted();
    const timeout = AbortSignal.timeout(this.config.requestTimeoutMs ?? S3_REQUEST_TIMEOUT_MS_DEFAULT);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    try {
      return await fn(combined);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw this.error(op, key, err, timeout.aborted);
    }
  }

  private error(op: string, key: string, err: unknown, timedOut: boolean): Error {
    const name = (err as { name?: string }).name ?? '';
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const where = `replica ${this.url}: ${op} ${key}`;
    if (op === 'get' && (name === 'NoSuchKey' || status === 404) && name !== 'NoSuchBucket')
      return new NoSuchKey(where);
    if (timedOut)
      return new TwopcError(
        'UNAVAILABLE',
        `${where}: no answer within ${this.config.requestTimeoutMs ?? S3_REQUEST_TIMEOUT_MS_DEFAULT} ms`,
        {
          cause: err,
        },
      );
    if (name === 'NoSuchBucket')
      return new TwopcError('NOT_FOUND', `${where}: bucket ${this.config.bucket} does not exist`, {
        hint: 'create the bucket first (twopc never creates buckets)',
        cause: err,
      });
    if (PERMANENT_ERRORS.has(name) || status === 403)
      return new TwopcError(
        'PERMISSION_DENIED',
        `${where}: ${name || 'access denied'}: ${describeError(err)}`,
        {
          hint: 'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the profile) and the bucket policy',
          cause: err,
        },
      );
    return new TwopcError('UNAVAILABLE', `${where}: ${name ? `${name}: ` : ''}${describeError(err)}`, {
      hint: 'the object store is unreachable or failing; retrying',
      cause: err,
    });
  }
}

/** Internal: a get of a missing key, turned into `undefined` by `get`. */
class NoSuchKey extends Error {
  override name = 'NoSuchKey';
}
