/**
 * What a decision log's group commit did, counted the same way by every backend: write batches,
 * the forced ones among them (SQLite: one fsync each; Redis: one round trip with its durability
 * wait), and the records they carried. A batch of only lazy records (ENDs, keyed outcomes) is not
 * forced and costs no fsync.
 */
import type { DecisionLogStats } from '../decision-log.ts';

export class BatchCounters {
  private batches = 0;
  private forcedBatches = 0;
  private records = 0;
  private batchRecordsMax = 0;

  count(summary: { readonly forced: boolean; readonly size: number }): void {
    this.batches++;
    if (summary.forced) this.forcedBatches++;
    this.records += summary.size;
    this.batchRecordsMax = Math.max(this.batchRecordsMax, summary.size);
  }

  stats(): DecisionLogStats {
    return {
      batches: this.batches,
      forcedBatches: this.forcedBatches,
      records: this.records,
      batchRecordsMax: this.batchRecordsMax,
    };
  }
}
