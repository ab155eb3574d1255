/**
 * `--decision-log` URLs for the Redis backend:
 *
 *     redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?groups=N]                 one server (or a proxy)
 *     rediss://…                                                             the same over TLS
 *     redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER[/DB][?groups=N]
 *     redis+cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…][?groups=N]   Redis Cluster (db 0 only)
 *
 * PORT defaults to 6379 (26379 for Sentinel). A password may also come from TWOPC_REDIS_PASSWORD,
 * which keeps it out of the process list. `groups` sets the number of slot groups of a NEW log
 * (redis-keys.ts); an existing log keeps its own, and a different explicit value is refused at open.
 * Every mistake is an INVALID_ARGUMENT naming the URL with its password redacted.
 */
import { invalidArgument } from '../../common/errors.ts';
import { slotGroupsMax } from './redis-keys.ts';

export const REDIS_TOPOLOGIES = ['standalone', 'sentinel', 'cluster'] as const;
export type RedisTopology = (typeof REDIS_TOPOLOGIES)[number];

const SCHEMES: Readonly<Record<string, { topology: RedisTopology; tls: boolean; defaultPort: number }>> = {
  'redis:': { topology: 'standalone', tls: false, defaultPort: 6379 },
  'rediss:': { topology: 'standalone', tls: true, defaultPort: 6379 },
  'redis+sentinel:': { topology: 'sentinel', tls: false, defaultPort: 26379 },
  'redis+cluster:': { topology: 'cluster', tls: false, defaultPort: 6379 },
};

/** Databases a standalone Redis has by default (`databases 16`); more needs a config change. */
const dbMax = 1_000;

export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
}

export interface RedisLogUrl {
  readonly topology: RedisTopology;
  readonly nodes: readonly RedisEndpoint[];
  readonly db: number;
  /** Sentinel only: the monitored master's name. */
  readonly masterName?: string;
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
  /** Slot groups asked for explicitly (`?groups=`); undefined = the log's own, or the default. */
  readonly groups?: number;
  /** The URL with its password replaced by `***`: for logs and messages. */
  readonly display: string;
}

export function isRedisLogUrl(raw: string): boolean {
  return Object.keys(SCHEMES).some((scheme) => raw.startsWith(`${scheme}//`));
}

function redact(raw: string): string {
  return raw.replace(/^([a-z+]+:\/\/)([^@/]*)@/, (_m, scheme: string, auth: string) => {
    const colon = auth.indexOf(':');
    return `${scheme}${colon < 0 ? auth : `${auth.slice(0, colon)}:***`}@`;
  });
}

function parseEndpoint(text: string, defaultPort: number, display: string): RedisEndpoint {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?$/.exec(text);
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (m === null || port < 1 || port > 65_535) {
    throw invalidArgument(
      `--decision-log ${display}: bad host:port "${text}"`,
      'e.g. redis://127.0.0.1:6379/0',
    );
  }
  const host = (m[1] as string).replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

function parseIntParam(name: string, text: string, min: number, max: number, display: string): number {
  const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidArgument(
      `--decision-log ${display}: ${name} must be an integer in [${min}, ${max}], got "${text}"`,
    );
  }
  return value;
}

export function parseRedisLogUrl(raw: string): RedisLogUrl {
  const display = redact(raw);
  const schemeEnd = raw.indexOf('//');
  const scheme = schemeEnd < 0 ? undefined : SCHEMES[raw.slice(0, schemeEnd)];
  if (scheme === undefined) {
    throw invalidArgument(
      `--decision-log ${display}: not a Redis URL`,
      'use redis://HOST:PORT/DB, rediss://…, redis+sentinel://HOST:PORT,…/MASTER/DB or redis+cluster://HOST:PORT,…',
    );
  }
  let rest = raw.slice(schemeEnd + 2);
  const query = rest.indexOf('?');
  const params = new URLSearchParams(query < 0 ? '' : rest.slice(query + 1));
  if (query >= 0) rest = rest.slice(0, query);
  const at = rest.lastIndexOf('@');
  const auth = at < 0 ? undefined : rest.slice(0, at);
  rest = at < 0 ? rest : rest.slice(at + 1);
  const [hostList = '', ...path] = rest.split('/');
  if (path.length > 0 && path[path.length - 1] === '') path.pop();

  const nodes = hostList.split(',').map((h) => parseEndpoint(h, scheme.defaultPort, display));
  if (scheme.topology === 'standalone' && nodes.length !== 1) {
    throw invalidArgument(
      `--decision-log ${display}: redis:// takes one HOST:PORT`,
      'for several, use redis+sentinel:// or redis+cluster://',
    );
  }
  let masterName: string | undefined;
  if (scheme.topology === 'sentinel') {
    masterName = path.shift();
    if (masterName === undefined || !/^[A-Za-z0-9._-]+$/.test(masterName)) {
      throw invalidArgument(
        `--decision-log ${display}: Sentinel needs the master name`,
        'e.g. redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster/0',
      );
    }
  }
  const dbText = path.shift();
  if (path.length > 0) throw invalidArgument(`--decision-log ${display}: unexpected path /${path.join('/')}`);
  const db = dbText === undefined ? 0 : parseIntParam('the database number', dbText, 0, dbMax, display);
  if (scheme.topology === 'cluster' && db !== 0) {
    throw invalidArgument(`--decision-log ${display}: Redis Cluster has database 0 only`);
  }

  let groups: number | undefined;
  for (const [name, value] of params) {
    if (name !== 'groups')
      throw invalidArgument(
        `--decision-log ${display}: unknown parameter "${name}"`,
        'the only parameter is groups=N',
      );
    groups = parseIntParam('groups', value, 1, slotGroupsMax, display);
  }

  let username: string | undefined;
  let password: string | undefined;
  if (auth !== undefined) {
    const colon = auth.indexOf(':');
    username = decodeURIComponent(colon < 0 ? auth : auth.slice(0, colon)) || undefined;
    password = colon < 0 ? undefined : decodeURIComponent(auth.slice(colon + 1)) || undefined;
  }
  password ??= process.env.TWOPC_REDIS_PASSWORD || undefined;

  return Object.freeze({
    topology: scheme.topology,
    nodes: Object.freeze(nodes),
    db,
    ...(masterName === undefined ? {} : { masterName }),
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    tls: scheme.tls,
    ...(groups === undefined ? {} : { groups }),
    display,
  });
}
