/**
 * Generations. A generation is one unbroken history of a shard's WAL: a snapshot of the database,
 * then WAL segments that each continue exactly where the previous one ended. Whenever the shipper
 * cannot prove that continuity (a restart of the participant it cannot resume, a WAL changed behind
 * its back) it starts a new generation from a fresh snapshot; the old one stays restorable.
 *
 * Inside a generation, `index` counts WAL incarnations: it goes up by one each time the shipper
 * checkpoints the WAL and SQLite restarts it from the beginning (new salts). A position is
 * (index, offset): `offset` is a byte offset in that incarnation's WAL file, always just after a
 * commit frame (or 0, before anything). Snapshot `index` is the database with every incarnation
 * before `index` applied: restore = snapshot + the segments of `index`, `index + 1`, … in order.
 */
import { randomBytes } from 'node:crypto';

/** `YYYYMMDDTHHMMSSmmmZ-<8 hex>`: lexical order is creation order, the suffix makes it unique. */
export const GENERATION_ID = /^\d{8}T\d{9}Z-[0-9a-f]{8}$/;

export function newGenerationId(nowMs: number, previous?: string): string {
  let ms = nowMs;
  // Keep ids increasing even if the clock steps back or two generations start in the same ms.
  if (previous !== undefined && generationTimeMs(previous) >= ms) ms = generationTimeMs(previous) + 1;
  const iso = new Date(ms).toISOString(); // 2025-01-02T03:04:05.123Z
  const stamp = iso.replace(/[-:]/g, '').replace('.', '');
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

/** The creation time encoded in a generation id (ms since the epoch). */
export function generationTimeMs(id: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(id);
  if (m === null) return Number.NaN;
  const [, y, mo, d, h, mi, s, ms] = m.map(Number) as number[];
  return Date.UTC(y as number, (mo as number) - 1, d, h, mi, s, ms);
}

export interface SegmentPosition {
  readonly index: number;
  readonly offset: number;
}

export function comparePositions(a: SegmentPosition, b: SegmentPosition): number {
  return a.index !== b.index ? a.index - b.index : a.offset - b.offset;
}
