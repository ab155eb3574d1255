import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  HistoryError,
  HistoryFile,
  HistoryRecorder,
  formatHistory,
  pairInvocations,
  parseHistory,
  readHistoryFile,
  writeHistoryFile,
  type Op,
} from '../../chaos/history.ts';
import { recorder } from './histories.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempFile(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'twopc-history-'));
  dirs.push(dir);
  return path.join(dir, 'history.jsonl');
}

function sample(): readonly Op[] {
  const rec = recorder();
  const a = rec.invoke(0, 'transfer', { id: 't1' });
  const b = rec.invoke(1, 'read', null);
  rec.complete(b, 'ok', { x: 1 });
  rec.complete(a, 'info', { id: 't1' }, 'deadline exceeded');
  const c = rec.invoke(0, 'transfer', { id: 't2' });
  rec.complete(c, 'fail', { id: 't2' }, 'ABORTED: conflict');
  rec.invoke(2, 'read', null); // never completes
  return rec.ops;
}

describe('history', () => {
  it('records dense indexes and non-decreasing times, and refuses two ops in flight on one process', () => {
    let now = 10;
    const rec = new HistoryRecorder(() => now--);
    const op = rec.invoke(0, 'read', null);
    expect(() => rec.invoke(0, 'read', null)).toThrow(HistoryError);
    rec.complete(op, 'ok', 1);
    expect(() => rec.complete(op, 'ok', 1)).toThrow(/not in flight/);
    expect(rec.ops.map((o) => [o.index, o.timeMs])).toEqual([
      [0, 10],
      [1, 10],
    ]);
    expect(() => rec.invoke(-1, 'read', null)).toThrow(/non-negative/);
  });

  it('pairs invocations with their outcomes; an unfinished one is info', () => {
    const pairs = pairInvocations(sample());
    expect(pairs.map((p) => [p.f, p.type, p.invoke.index, p.completion?.index])).toEqual([
      ['transfer', 'info', 0, 3],
      ['read', 'ok', 1, 2],
      ['transfer', 'fail', 4, 5],
      ['read', 'info', 6, undefined],
    ]);
    expect(pairs[1]!.value).toEqual({ x: 1 });
    expect(pairs[0]!.value).toEqual({ id: 't1' });
  });

  it('refuses histories that break the one-op-per-process rule', () => {
    const op = (index: number, process: number, type: Op['type'], f = 'read'): Op => ({
      index,
      process,
      type,
      f,
      value: null,
      timeMs: index,
    });
    expect(() => pairInvocations([op(0, 0, 'ok')])).toThrow(/nothing in flight/);
    expect(() => pairInvocations([op(0, 0, 'invoke'), op(1, 0, 'invoke')])).toThrow(/in flight/);
    expect(() => pairInvocations([op(0, 0, 'invoke'), op(1, 0, 'ok', 'write')])).toThrow(/f=write/);
  });

  it('round-trips through JSON lines, in memory and on disk', () => {
    const ops = sample();
    expect(parseHistory(formatHistory(ops))).toEqual(ops);
    const file = tempFile();
    writeHistoryFile(file, ops);
    expect(readHistoryFile(file)).toEqual(ops);
  });

  it('streams to a file as ops are recorded', () => {
    const file = tempFile();
    const sink = new HistoryFile(file);
    let now = 0;
    const rec = new HistoryRecorder(() => now++, sink.append);
    const op = rec.invoke(3, 'txn', [['append', 'x', 1]]);
    expect(readHistoryFile(file)).toEqual([op]);
    rec.complete(op, 'ok', [['append', 'x', 1]]);
    sink.close();
    expect(readHistoryFile(file)).toEqual(rec.ops);
    expect(() => sink.append(op)).toThrow(/closed/);
  });

  it('says which line is wrong', () => {
    const good = JSON.stringify({ index: 0, process: 0, type: 'invoke', f: 'read', value: null, timeMs: 5 });
    const cases: [string, RegExp][] = [
      ['{not json', /line 1: not JSON/],
      ['[1]', /line 1: not an object/],
      [`${good}\n${good}`, /line 2: index 0, expected 1/],
      [good.replace('"invoke"', '"done"'), /field type must be invoke\|ok\|fail\|info/],
      [good.replace('"process":0', '"process":"p"'), /field process/],
      [good.replace(',"value":null', ''), /field value must be present/],
      [good.replace('"f":"read"', '"f":3'), /field f/],
      [
        `${good}\n${good.replace('"index":0', '"index":1').replace('"timeMs":5', '"timeMs":4')}`,
        /line 2: timeMs goes backwards/,
      ],
    ];
    for (const [text, error] of cases) expect(() => parseHistory(text), text).toThrow(error);
    const file = tempFile();
    writeFileSync(file, `\n${good}\n\n`);
    expect(readHistoryFile(file)).toHaveLength(1);
  });
});
