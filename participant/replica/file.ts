/**
 * The `file://DIR` replica: one file per object under DIR, keys as relative paths. A put writes a
 * temporary file, fsyncs it, renames it into place and fsyncs the directory, so an object is either
 * absent or whole and durable — the same promise S3 makes.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { assert } from '../../common/assert.ts';
import { describeError, TwopcError } from '../../common/errors.ts';
import type { ReplicaClient, ReplicaObject } from './replica.ts';

/** Suffix of a put in progress; such files are never listed and may be left by a crash. */
const TEMP_MARK = '.tmp-';

export class FileReplicaClient implements ReplicaClient {
  readonly url: string;
  private readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.url = `file://${this.root}`;
  }

  async put(key: string, body: Buffer, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const file = this.pathOf(key);
    const temp = `${file}${TEMP_MARK}${randomBytes(4).toString('hex')}`;
    await this.io('put', key, async () => {
      await fs.mkdir(path.dirname(file), { recursive: true });
      const handle = await fs.open(temp, 'w');
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temp, file);
      await syncDir(path.dirname(file));
    }).catch(async (err: unknown) => {
      await fs.rm(temp, { force: true });
      throw err;
    });
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    signal?.throwIfAborted();
    try {
      return await fs.readFile(this.pathOf(key), { signal });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.error('get', key, err);
    }
  }

  async list(prefix: string, signal?: AbortSignal): Promise<ReplicaObject[]> {
    signal?.throwIfAborted();
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash + 1);
    const out: ReplicaObject[] = [];
    await this.io('list', prefix, () => this.walk(base, prefix, out));
    // Lexical order of keys, as S3 lists them (the walk order depends on the file system).
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await this.io('delete', key, () => fs.rm(this.pathOf(key), { force: true }));
  }

  close(): void {}

  private async walk(dirKey: string, prefix: string, out: ReplicaObject[]): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(path.join(this.root, dirKey), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const entry of entries) {
      const key = dirKey + entry.name;
      if (entry.isDirectory()) {
        if (prefix.startsWith(key + '/') || (key + '/').startsWith(prefix))
          await this.walk(key + '/', prefix, out);
      } else if (entry.isFile() && key.startsWith(prefix) && !entry.name.includes(TEMP_MARK)) {
        const stat = await fs.stat(path.join(this.root, key));
        out.push({ key, size: stat.size });
      }
    }
  }

  private pathOf(key: string): string {
    assert(
      key !== '' &&
        !key.startsWith('/') &&
        !key.split('/').some((part) => part === '' || part === '.' || part === '..'),
      `replica key "${key}" is a relative path without empty, . or .. parts`,
    );
    return path.join(this.root, key);
  }

  private async io<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.error(op, key, err);
    }
  }

  private error(op: string, key: string, err: unknown): TwopcError {
    if (err instanceof TwopcError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    const permanent = code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
    return new TwopcError(
      permanent ? 'PERMISSION_DENIED' : 'UNAVAILABLE',
      `replica ${this.url}: ${op} ${key}: ${describeError(err)}`,
      { hint: permanent ? 'check the replica directory is writable' : 'retrying', cause: err },
    );
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
