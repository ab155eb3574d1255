/**
 * `npx twopc shard replica ls`: what a replica holds — per shard, its generations with their
 * snapshots, segments, WAL indexes, stored bytes and time range.
 */
import { openReplicaClient, parseReplicaUrl } from '../participant/replica/replica-url.ts';
import { listShards, ShardReplica, type GenerationListing } from '../participant/replica/shard-replica.ts';
import { formatUsage, parseFlags, parseName } from './args.ts';
import { EXIT_OK } from './exit.ts';

const FLAGS = {
  replica: {
    kind: 'string',
    value: 'URL',
    description: 'file://DIR or s3://BUCKET/PREFIX?endpoint=…&region=…',
    required: true,
  },
  shard: {
    kind: 'string',
    value: 'NAME',
    description: 'list this shard only (default: every shard in the replica)',
  },
  json: { kind: 'boolean', description: 'print JSON instead of a table' },
} as const;

export const summary = 'list generations, snapshots, segments and time ranges';

export const usage = formatUsage({
  synopsis: 'npx twopc shard replica ls --replica URL [--shard NAME] [--json]',
  summary:
    'Lists what a replica holds for each shard: generations, snapshots, WAL segments, stored bytes, time ranges.',
  flags: FLAGS,
});

export async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags('shard replica ls', argv, FLAGS);
  const client = await openReplicaClient(parseReplicaUrl(flags.replica));
  try {
    const shards = flags.shard === undefined ? await listShards(client) : [parseName('--shard', flags.shard)];
    const out: Record<string, GenerationListing[]> = {};
    for (const shard of shards) out[shard] = await new ShardReplica(client, shard).listGenerations();
    process.stdout.write(flags.json ? `${JSON.stringify(out, null, 2)}\n` : formatListing(client.url, out));
    return EXIT_OK;
  } finally {
    client.close();
  }
}

function formatListing(url: string, shards: Record<string, GenerationListing[]>): string {
  const names = Object.keys(shards);
  if (names.length === 0) return `${url}: no shard has a generation here\n`;
  const lines: string[] = [];
  for (const name of names) {
    lines.push(`shard ${name} (${url})`);
    const rows = [['GENERATION', 'SNAPSHOTS', 'SEGMENTS', 'WAL INDEXES', 'STORED', 'FROM', 'TO']];
    for (const g of shards[name] ?? []) rows.push(describe(g));
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
    for (const r of rows)
      lines.push(
        `  ${r
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd()}`,
      );
    lines.push('');
  }
  return lines.join('\n');
}

function describe(g: GenerationListing): string[] {
  const stored = [...g.snapshots, ...g.segments].reduce((n, o) => n + o.size, 0);
  const times = [...g.snapshots.map((s) => s.takenAtMs), ...g.segments.map((s) => s.readAtMs)];
  const indexes = g.segments.map((s) => s.index);
  const iso = (ms: number | undefined) =>
    ms === undefined || !Number.isFinite(ms) ? '-' : new Date(ms).toISOString();
  return [
    g.id,
    String(g.snapshots.length),
    String(g.segments.length),
    indexes.length === 0 ? '-' : `${Math.min(...indexes)}-${Math.max(...indexes)}`,
    `${(stored / 1e6).toFixed(1)} MB`,
    iso(times.length === 0 ? undefined : Math.min(...times)),
    iso(times.length === 0 ? undefined : Math.max(...times)),
  ];
}
