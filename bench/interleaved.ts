/**
 * Interleaved timing for cases compared with each other by ratio (the scaling and groups
 * sections of BENCHMARKS.md): every case gets one warm-up slice, then `rounds` rounds in
 * which each case runs for one slice in turn, so that a change of machine load or JIT
 * state during the run falls on all cases alike rather than on whichever ran last. A
 * case's figure is the median over its slices of the mean time per operation; the
 * spread is the slowest and fastest slice.
 */

export interface TimedCase {
  readonly name: string;
  /** Operations one call of `run` performs (its figures are per operation). */
  readonly ops: number;
  readonly run: () => void;
}

export interface Timing {
  readonly name: string;
  readonly nsPerOp: number;
  readonly opsPerSecond: number;
  /** Fastest and slowest slice, ns per operation. */
  readonly minNs: number;
  readonly maxNs: number;
  /** Calls of `run` timed, over every slice. */
  readonly calls: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * What a slice's time is: `wall` (hrtime) or `cpu`, the process's user + system CPU time
 * (`process.cpuUsage`: every thread, so the garbage collector's helper threads count too) —
 * on a machine shared with other jobs the CPU time is what the code costs, the wall time also
 * holds the time the process waited for a core.
 */
export type Clock = 'wall' | 'cpu';

/** Run `c` for at least `ms` milliseconds of wall time (at least one call); ns per operation by `clock`, and calls made. */
function slice(c: TimedCase, ms: number, clock: Clock = 'wall'): { ns: number; calls: number } {
  const budget = BigInt(Math.round(ms * 1e6));
  const cpu0 = clock === 'cpu' ? process.cpuUsage() : undefined;
  const t0 = process.hrtime.bigint();
  let calls = 0;
  let elapsed = 0n;
  do {
    c.run();
    calls++;
    elapsed = process.hrtime.bigint() - t0;
  } while (elapsed < budget);
  if (cpu0 !== undefined) {
    const used = process.cpuUsage(cpu0);
    return { ns: ((used.user + used.system) * 1000) / (calls * c.ops), calls };
  }
  return { ns: Number(elapsed) / (calls * c.ops), calls };
}

/** Time `cases` interleaved: `rounds` slices of `sliceMs` each, after one warm-up slice; `clock` as {@link Clock}. */
export function timeInterleaved(cases: readonly TimedCase[], rounds: number, sliceMs: number, clock: Clock = 'wall'): Timing[] {
  for (const c of cases) slice(c, sliceMs, clock);
  const samples = cases.map((): number[] => []);
  const calls = cases.map(() => 0);
  for (let r = 0; r < rounds; r++) {
    cases.forEach((c, i) => {
      const s = slice(c, sliceMs, clock);
      samples[i]!.push(s.ns);
      calls[i]! += s.calls;
    });
  }
  return cases.map((c, i) => {
    const ns = median(samples[i]!);
    return { name: c.name, nsPerOp: ns, opsPerSecond: 1e9 / ns, minNs: Math.min(...samples[i]!), maxNs: Math.max(...samples[i]!), calls: calls[i]! };
  });
}
