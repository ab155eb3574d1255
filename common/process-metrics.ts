/**
 * The process itself, under the names Prometheus' client libraries use, so stock dashboards work:
 * CPU time, resident memory, heap, start time, and how busy the event loop is (its active time as a
 * counter: `rate()` of it is the event-loop utilisation, the figure that says a process is saturated
 * long before its CPU does on a 2-core machine).
 */
import { performance } from 'node:perf_hooks';
import { counter, gauge, type MetricFamily } from './metrics-text.ts';

const startTimeSec = (Date.now() - performance.now()) / 1000;

export function processMetricFamilies(): MetricFamily[] {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  const loop = performance.eventLoopUtilization();
  return [
    counter(
      'process_cpu_seconds_total',
      'User and system CPU time spent, in seconds.',
      (cpu.user + cpu.system) / 1e6,
    ),
    gauge('process_resident_memory_bytes', 'Resident set size, in bytes.', memory.rss),
    gauge(
      'process_start_time_seconds',
      'Start time of the process since the Unix epoch, in seconds.',
      startTimeSec,
    ),
    gauge('nodejs_heap_size_used_bytes', 'V8 heap in use, in bytes.', memory.heapUsed),
    gauge('nodejs_heap_size_total_bytes', 'V8 heap allocated, in bytes.', memory.heapTotal),
    counter(
      'nodejs_eventloop_active_seconds_total',
      'Time the event loop spent running callbacks rather than waiting; rate() = utilisation.',
      loop.active / 1000,
    ),
  ];
}
