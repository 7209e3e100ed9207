import { enabledPlatform, warmIec, msiWrite } from './platform.ts';
import { applyAction } from '../src/platform/transition.ts';
const entries = Number(process.argv[2] ?? 65536);
const mode = process.argv[3] ?? 'hit';
const full = enabledPlatform(entries);
const step = entries / 64;
const idx = Array.from({ length: 64 }, (_, k) => k * step);
const warm = warmIec(full, idx);
const msis = idx.map(msiWrite);
const base = mode === 'hit' ? warm : full;
let sink: unknown;
const N = Number(process.argv[4] ?? 3000);
for (let w = 0; w < 2; w++) {
  const t0 = performance.now();
  for (let n = 0; n < N; n++) for (const a of msis) sink = applyAction(base, a);
  const t = performance.now() - t0;
  console.log(mode, entries, ((t * 1e6) / (N * 64)).toFixed(0), 'ns/op');
}
