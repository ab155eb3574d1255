/**
 * The start-up check that a Redis can hold decisions: a COMMIT acknowledged to a client must survive a
 * crash of the Redis host (and, where the operator asks for it, the loss of the master).
 *
 * Accepted, on every master:
 * - `appendonly yes` with `appendfsync always`, read with CONFIG GET: Redis fsyncs the AOF before it
 *   replies, so a reply means the write is on disk;
 * - or the operator's assertion `--redis-durability wait:N` (N replicas connected now): every forced
 *   write then ends with `WAIT N timeout` and counts only if N replicas acknowledged it;
 * - or `--redis-durability aof-always` where CONFIG is disabled (managed Redis): trusted, but refused
 *   when `INFO persistence` contradicts it. Both may be asserted: `aof-always,wait:N`.
 * Always refused: a replica (writes would fail), and `maxmemory-policy allkeys-*` (Redis would evict
 * decisions under memory pressure; the log sets no TTLs, so `volatile-*` and `noeviction` are fine).
 *
 * Anything else is FAILED_PRECONDITION with what was found and a hint, unless the operator passes
 * `--allow-non-durable-log`: then the problems become warnings (logged loudly by the caller) and the
 * log runs on whatever the server gives. Checked once, at open: a later CONFIG SET is not noticed.
 */
import type { Redis } from 'ioredis';
import { TwopcError, describeError, invalidArgument } from '../../common/errors.ts';

/** 1 s: WAIT returns as soon as the replicas acknowledge (well under a ms on a LAN); longer means one is gone. */
export const waitTimeoutMsDefault = 1_000;
/** Replicas a WAIT may ask for: more than any sane deployment runs. */
const waitReplicasMax = 100;

/** What the operator asserts with `--redis-durability`. */
export interface DurabilityAssertion {
  readonly aofAlways: boolean;
  /** 0 = no WAIT. */
  readonly waitReplicas: number;
}

export interface DurabilityPolicy {
  readonly asserted?: DurabilityAssertion;
  readonly allowNonDurable: boolean;
  readonly waitTimeoutMs?: number;
}

/** The outcome of the check: how writes are made durable, and what the operator must hear. */
export interface DurabilityPlan {
  /** WAIT this many replicas after every forced write (0 = no WAIT). */
  readonly waitReplicas: number;
  readonly waitTimeoutMs: number;
  /** One line: how durability was established, for the start-up log. */
  readonly summary: string;
  /** Problems overridden by --allow-non-durable-log, and risks worth knowing (async failover). */
  readonly warnings: readonly string[];
}

/** `aof-always`, `wait:N`, or both separated by a comma. */
export function parseDurabilityAssertion(raw: string): DurabilityAssertion {
  let aofAlways = false;
  let waitReplicas = 0;
  for (const part of raw.split(',')) {
    const wait = /^wait:([0-9]{1,3})$/.exec(part);
    if (part === 'aof-always' && !aofAlways) aofAlways = true;
    else if (
      wait !== null &&
      waitReplicas === 0 &&
      Number(wait[1]) >= 1 &&
      Number(wait[1]) <= waitReplicasMax
    )
      waitReplicas = Number(wait[1]);
    else
      throw invalidArgument(
        `--redis-durability: bad value "${raw}"`,
        `use aof-always, wait:N (1 <= N <= ${waitReplicasMax}) or aof-always,wait:N`,
      );
  }
  return Object.freeze({ aofAlways, waitReplicas });
}

interface NodeFacts {
  readonly address: string;
  /** undefined when CONFIG cannot be used (disabled, renamed, or not permitted). */
  readonly config?: { appendonly: string; appendfsync: string; maxmemoryPolicy: string };
  readonly configError?: string;
  readonly role: string;
  readonly connectedReplicas: number;
  /** From INFO persistence; undefined if INFO did not say. */
  readonly aofEnabled?: boolean;
}

function infoField(info: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:(.*)$`, 'm').exec(info);
  return m?.[1]?.trim();
}

async function configValue(node: Redis, name: string): Promise<string> {
  const reply = (await node.call('CONFIG', 'GET', name)) as unknown;
  if (!Array.isArray(reply) || reply.length < 2) throw new Error(`CONFIG GET ${name} returned nothing`);
  return String(reply[1]);
}

async function readFacts(node: Redis): Promise<NodeFacts> {
  const address = `${node.options.host ?? '?'}:${node.options.port ?? '?'}`;
  const replication = await node.info('replication');
  const persistence = await node.info('persistence');
  const aof = infoField(persistence, 'aof_enabled');
  const base = {
    address,
    role: infoField(replication, 'role') ?? 'unknown',
    connectedReplicas: Number(infoField(replication, 'connected_slaves') ?? 0),
    ...(aof === undefined ? {} : { aofEnabled: aof === '1' }),
  };
  try {
    const config = {
      appendonly: await configValue(node, 'appendonly'),
      appendfsync: await configValue(node, 'appendfsync'),
      maxmemoryPolicy: await configValue(node, 'maxmemory-policy'),
    };
    return { ...base, config };
  } catch (err) {
    return { ...base, configError: describeError(err) };
  }
}

/** The problems of one node under the policy; empty = durable as asked. */
function problemsOf(
  facts: NodeFacts,
  policy: DurabilityPolicy,
): { fatal: string[]; problems: string[]; risks: string[] } {
  const fatal: string[] = [];
  const problems: string[] = [];
  const risks: string[] = [];
  const config = facts.config;
  const asserted = policy.asserted;
  if (facts.role !== 'master')
    fatal.push(`it is a ${facts.role}, not a master: point --decision-log at the master`);
  if (config !== undefined && config.maxmemoryPolicy.startsWith('allkeys-'))
    problems.push(
      `maxmemory-policy is ${config.maxmemoryPolicy}: Redis may evict decisions (use noeviction)`,
    );
  const aofOk =
    config === undefined ? undefined : config.appendonly === 'yes' && config.appendfsync === 'always';
  const aofFound =
    config === undefined ? '' : `appendonly=${config.appendonly}, appendfsync=${config.appendfsync}`;
  if (asserted?.aofAlways === true) {
    if (aofOk === false) problems.push(`--redis-durability says aof-always, but the server has ${aofFound}`);
    if (config === undefined && facts.aofEnabled === false)
      problems.push('--redis-durability says aof-always, but INFO persistence says aof_enabled:0');
  }
  if (asserted !== undefined && asserted.waitReplicas > facts.connectedReplicas)
    problems.push(
      `--redis-durability says wait:${asserted.waitReplicas}, but ${facts.connectedReplicas} replicas are connected`,
    );
  if (asserted === undefined) {
    if (config === undefined)
      problems.push(
        `CONFIG is not available (${facts.configError ?? 'refused'}; a managed Redis?), so durability cannot be ` +
          'verified: assert it with --redis-durability aof-always|wait:N',
      );
    else if (!aofOk)
      problems.push(`${aofFound}: an acknowledged decision can be lost if the Redis host crashes`);
    if (aofOk && facts.connectedReplicas > 0)
      risks.push(
        `${facts.connectedReplicas} asynchronous replicas: a failover may lose acknowledged decisions ` +
          '(add --redis-durability aof-always,wait:N to make writes wait for N replicas)',
      );
  }
  return { fatal, problems, risks };
}

/** Reads every master's settings and decides; throws FAILED_PRECONDITION when it must not start. */
export async function checkDurability(
  masters: readonly Redis[],
  policy: DurabilityPolicy,
  display: string,
): Promise<DurabilityPlan> {
  const fatal: string[] = [];
  const problems: string[] = [];
  const risks: string[] = [];
  for (const node of masters) {
    const facts = await readFacts(node);
    const found = problemsOf(facts, policy);
    const where = masters.length > 1 ? `${facts.address}: ` : '';
    fatal.push(...found.fatal.map((p) => where + p));
    problems.push(...found.problems.map((p) => where + p));
    risks.push(...found.risks.map((p) => where + p));
  }
  if (fatal.length > 0)
    throw new TwopcError('FAILED_PRECONDITION', `Redis decision log ${display}: ${fatal.join('; ')}`);
  if (problems.length > 0 && !policy.allowNonDurable) {
    throw new TwopcError(
      'FAILED_PRECONDITION',
      `Redis decision log ${display} is not durable: ${problems.join('; ')}`,
      {
        hint:
          'enable fsync on every write (redis.conf: appendonly yes, appendfsync always), or run replicas and pass ' +
          '--redis-durability wait:N; --allow-non-durable-log starts anyway, and acknowledged commits may then be lost',
      },
    );
  }
  const waitReplicas = policy.asserted?.waitReplicas ?? 0;
  const how: string[] = [];
  if (problems.length > 0) how.push('NOT DURABLE (--allow-non-durable-log)');
  else if (policy.asserted === undefined) how.push('AOF fsync always (verified with CONFIG GET)');
  else if (policy.asserted.aofAlways) how.push('AOF fsync always (asserted by --redis-durability)');
  if (waitReplicas > 0) how.push(`WAIT for ${waitReplicas} replicas after every forced write`);
  return Object.freeze({
    waitReplicas,
    waitTimeoutMs: policy.waitTimeoutMs ?? waitTimeoutMsDefault,
    summary: how.join(' + '),
    warnings: Object.freeze([...problems, ...risks]),
  });
}
