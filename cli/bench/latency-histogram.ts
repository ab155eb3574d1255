/**
 * A latency histogram with bounded memory and < 1 % relative error, so a long closed-loop run keeps
 * every sample's contribution without keeping the samples.
 *
 * Values are whole microseconds. Below `linearUsMax` every microsecond has its own bucket (exact);
 * above it each power of two is split into `subBucketsPerOctave` equal buckets, so a bucket is at most
 * 1/128 of its value wide. A reported percentile is the midpoint of its bucket.
 */
import { assert } from '../../common/assert.ts';

/** Exact buckets below 256 µs. */
const linearUsMax = 256;
/** 128 buckets per power of two above that: relative error under 0.8 %. */
const subBucketBits = 7;
const subBucketsPerOctave = 1 << subBucketBits;
/** 2^31 µs is about 36 minutes: far beyond any deadline the bench sets; larger values are clamped. */
const valueUsMax = 2 ** 31 - 1;
const octaveFirst = Math.log2(linearUsMax);
const bucketCount = linearUsMax + (31 - octaveFirst) * subBucketsPerOctave;

function bucketOf(us: number): number {
  if (us < linearUsMax) return us;
  const octave = 31 - Math.clz32(us);
  const sub = (us >>> (octave - subBucketBits)) - subBucketsPerOctave;
  return linearUsMax + (octave - octaveFirst) * subBucketsPerOctave + sub;
}

/** The midpoint of a bucket, in µs. */
function valueOf(bucket: number): number {
  if (bucket < linearUsMax) return bucket;
  const rel = bucket - linearUsMax;
  const octave = octaveFirst + Math.floor(rel / subBucketsPerOctave);
  const width = 2 ** (octave - subBucketBits);
  const low = (subBucketsPerOctave + (rel % subBucketsPerOctave)) * width;
  return low + (width - 1) / 2;
}

export interface LatencySummaryMs {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(bucketCount);
  private total = 0;
  private sumUs = 0;
  private maxUs = 0;

  get count(): number {
    return this.total;
  }

  /** Records one latency given in milliseconds (as performance.now() differences are). */
  recordMs(ms: number): void {
    assert(Number.isFinite(ms) && ms >= 0, `latency must be a non-negative number, got ${ms}`);
    const us = Math.min(valueUsMax, Math.round(ms * 1000));
    this.counts[bucketOf(us)]! += 1;
    this.total += 1;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  /** Adds every sample of `other` (rounds of one row are merged this way). */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < bucketCount; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.sumUs += other.sumUs;
    this.maxUs = Math.max(this.maxUs, other.maxUs);
  }

  /** The value at percentile `p` (0 < p ≤ 100), in ms; NaN when empty. */
  percentileMs(p: number): number {
    assert(p > 0 && p <= 100, `percentile must be in (0, 100], got ${p}`);
    if (this.total === 0) return Number.NaN;
    const rank = Math.ceil((p / 100) * this.total);
    let seen = 0;
    for (let i = 0; i < bucketCount; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i), this.maxUs) / 1000;
    }
    return this.maxUs / 1000;
  }

  summary(): LatencySummaryMs {
    return {
      count: this.total,
      mean: this.total === 0 ? Number.NaN : this.sumUs / this.total / 1000,
      p50: this.percentileMs(50),
      p90: this.percentileMs(90),
      p99: this.percentileMs(99),
      p999: this.percentileMs(99.9),
      max: this.total === 0 ? Number.NaN : this.maxUs / 1000,
    };
  }
}
