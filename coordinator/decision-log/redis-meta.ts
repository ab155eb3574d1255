/**
 * The log's meta keys in `{twopc}` (redis-keys.ts): the layout version and slot-group count, written
 * by the first open that may create the log, checked by every open; and the epoch, as in
 * sqlite-open.ts: a `coordinator` open INCRs it (durably: with WAIT when the plan has replicas), a
 * `tool` or `read-only` open only reads it. A Redis database without the meta keys is NOT_FOUND for
 * readers and tools (unless `create`); one of another layout version is FAILED_PRECONDITION.
 */
import { TwopcError } from '../../common/errors.ts';
import type { CommandResult, RedisConnection, WaitPolicy } from './redis-connection.ts';
import {
  REDIS_SCHEMA_VERSION,
  metaKeys,
  metaTag as tag,
  slotGroupsDefault,
  slotGroupsMax,
} from './redis-keys.ts';
import type { RedisLogUrl } from './redis-url.ts';
import type { LogOpenMode } from './sqlite-open.ts';

export interface RedisMeta {
  readonly groups: number;
  readonly epoch: bigint;
}

function reply(result: CommandResult | undefined, what: string): unknown {
  if (result === undefined || result[0] !== null)
    throw new TwopcError('UNAVAILABLE', `decision log ${what} failed: ${result?.[0]?.message ?? 'no reply'}`);
  return result[1];
}

export async function openRedisMeta(
  connection: RedisConnection,
  url: RedisLogUrl,
  mode: LogOpenMode,
  create: boolean,
  wait: WaitPolicy | undefined,
): Promise<RedisMeta> {
  const mayCreate = mode === 'coordinator' || (mode === 'tool' && create);
  if (mayCreate) {
    const groups = String(url.groups ?? slotGroupsDefault);
    const [created] = await connection.exec(
      [{ tag, add: (p) => p.hsetnx(metaKeys.meta, 'schema', String(REDIS_SCHEMA_VERSION)) }],
      wait,
    );
    reply(created, 'create');
    reply(
      (await connection.exec([{ tag, add: (p) => p.hsetnx(metaKeys.meta, 'groups', groups) }], wait))[0],
      'create',
    );
  }
  const [read] = await connection.exec([{ tag, add: (p) => p.hmget(metaKeys.meta, 'schema', 'groups') }]);
  const [schema, groupsText] = reply(read, 'open') as [string | null, string | null];
  if (schema === null) {
    throw new TwopcError('NOT_FOUND', `no decision log in ${url.display}`, {
      hint: 'a coordinator creates it at its first start; check the address and the database number',
    });
  }
  if (schema !== String(REDIS_SCHEMA_VERSION)) {
    throw new TwopcError(
      'FAILED_PRECONDITION',
      `the decision log in ${url.display} has layout version ${schema}, not ${REDIS_SCHEMA_VERSION}`,
      { hint: 'open it with the twopc version that wrote it' },
    );
  }
  const groups = Number(groupsText);
  if (!Number.isSafeInteger(groups) || groups < 1 || groups > slotGroupsMax) {
    throw new TwopcError(
      'FAILED_PRECONDITION',
      `the decision log in ${url.display} has a bad group count "${groupsText}"`,
    );
  }
  if (url.groups !== undefined && url.groups !== groups) {
    throw new TwopcError(
      'FAILED_PRECONDITION',
      `the decision log in ${url.display} was created with groups=${groups}, not ${url.groups}`,
      { hint: 'the group count is fixed when the log is created: drop ?groups= from the URL' },
    );
  }
  const [epochResult] = await connection.exec(
    [
      {
        tag,
        add: (p) => (mode === 'coordinator' ? p.incr(metaKeys.epoch) : p.get(metaKeys.epoch)),
      },
    ],
    mode === 'coordinator' ? wait : undefined,
  );
  const epochReply = reply(epochResult, 'epoch');
  const epoch = BigInt(epochReply === null ? 0 : (epochReply as number | string));
  return { groups, epoch };
}
