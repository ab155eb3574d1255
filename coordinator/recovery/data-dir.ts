/**
 * Where things are in a data dir laid out like `twopc dev`'s: the decision log at
 * DIR/coordinator/decisions.db, each shard at DIR/<shard>/<shard>.db. File system only (no SQLite),
 * so the CLI can validate flags without loading the storage code.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { invalidArgument } from '../../common/errors.ts';

export interface NamedLocation {
  readonly name: string;
  /** A file path (offline) or HOST:PORT (online). */
  readonly location: string;
}

/** The coordinator's directory inside a dev-layout data dir, and its log file name. */
export const DEV_COORDINATOR_DIR = 'coordinator';
export const LOG_FILE_NAME = 'decisions.db';

/** Finds the decision log and the shard files of a `twopc dev`-style data dir. */
export function dataDirLayout(dir: string): { logFile: string; shards: NamedLocation[] } {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw invalidArgument(`--data-dir: "${dir}" is not a directory`);
  const shards: NamedLocation[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (!entry.isDirectory() || entry.name === DEV_COORDINATOR_DIR) continue;
    for (const file of readdirSync(path.join(dir, entry.name)).sort()) {
      if (!file.endsWith('.db')) continue;
      const name = file.slice(0, -'.db'.length);
      const location = path.join(dir, entry.name, file);
      const twin = shards.find((s) => s.name === name);
      if (twin !== undefined)
        throw invalidArgument(`--data-dir: two files for shard ${name}: ${twin.location} and ${location}`);
      shards.push({ name, location });
    }
  }
  if (shards.length === 0) {
    throw invalidArgument(
      `--data-dir: no shard files under ${dir}`,
      'expected DIR/<shard>/<shard>.db as `twopc dev` lays them out; name files with --shard NAME=FILE instead',
    );
  }
  return { logFile: path.join(dir, DEV_COORDINATOR_DIR, LOG_FILE_NAME), shards };
}
