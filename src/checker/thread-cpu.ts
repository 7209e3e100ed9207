/**
 * CPU time of the calling thread, for the check pool's start-up and throughput figures
 * (src/checker/check-worker.ts, bench/check.ts). Node 20 has no per-thread CPU clock
 * (`process.cpuUsage` is the whole process's; `process.threadCpuUsage` is Node 23.9+), so on
 * Linux this reads `/proc/thread-self/stat` (proc(5): fields 14 utime and 15 stime, in clock
 * ticks, `getconf CLK_TCK` = 100 on Linux, so 10 ms resolution). A synchronous read runs on the
 * calling thread, so thread-self is that thread.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux architecture Node supports). */
const TICKS_PER_SECOND = 100;

/** This thread's user + system CPU time in milliseconds since it started, or undefined off Linux. */
export function threadCpuMs(): number | undefined {
  let stat: string;
  try {
    stat = readFileSync('/proc/thread-self/stat', 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? ((utime + stime) * 1000) / TICKS_PER_SECOND : undefined;
}
