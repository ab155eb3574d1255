/**
 * `--decision-log SPEC`: which backend holds the decision log.
 *
 *     sqlite:PATH                      the embedded default (`sqlite:<data-dir>/decisions.db`)
 *     redis://HOST:PORT/DB  (and rediss://, redis+sentinel://, redis+cluster://; see redis-url.ts)
 *
 * Parsing only, with no heavy imports (the CLI parses flags before it loads SQLite, ioredis or gRPC);
 * every mistake is an INVALID_ARGUMENT (the CLI's exit 2). open.ts opens a spec.
 */
import path from 'node:path';
import { invalidArgument } from '../../common/errors.ts';
import type { DurabilityPolicy } from './redis-durability.ts';
import { isRedisLogUrl, parseRedisLogUrl, type RedisLogUrl } from './redis-url.ts';

export type DecisionLogSpec =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'redis'; readonly url: RedisLogUrl; readonly durability: DurabilityPolicy };

/** The log file inside a data dir when no --decision-log is given. */
export function defaultDecisionLogPath(dataDir: string): string {
  return path.join(dataDir, 'decisions.db');
}

/** `sqlite:PATH` or a Redis URL; a Redis spec takes `durability` (default: verify, refuse if not durable). */
export function parseDecisionLogSpec(
  raw: string,
  durability: DurabilityPolicy = { allowNonDurable: false },
): DecisionLogSpec {
  if (raw.startsWith('sqlite:')) {
    const file = raw.slice('sqlite:'.length);
    if (file === '')
      throw invalidArgument('--decision-log sqlite: needs a path, e.g. sqlite:data/decisions.db');
    return { kind: 'sqlite', path: file };
  }
  if (isRedisLogUrl(raw) || /^[a-z+]+:\/\//.test(raw)) {
    return { kind: 'redis', url: parseRedisLogUrl(raw), durability };
  }
  throw invalidArgument(
    `--decision-log: "${raw}" is neither sqlite:PATH nor a redis:// URL`,
    'e.g. --decision-log sqlite:data/decisions.db or --decision-log redis://127.0.0.1:6379/0',
  );
}

/** A one-line description for logs (a Redis password is never shown). */
export function describeDecisionLogSpec(spec: DecisionLogSpec): string {
  return spec.kind === 'sqlite' ? `sqlite:${spec.path}` : spec.url.display;
}
