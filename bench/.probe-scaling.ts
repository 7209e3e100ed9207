import { scalingFixture, MutableIrPlatform, SCALING_DEVICES, SCALING_UNITS, SCALING_BATCH } from './scaling.ts';
import { applyAction } from '../src/platform/transition.ts';
import { deepStrictEqual } from 'node:assert';
let sink: unknown;
const fx = SCALING_UNITS.flatMap((u) => SCALING_DEVICES.map((d) => scalingFixture(d, u)));
for (const f of fx) {
  const b = new MutableIrPlatform(f.warm);
  for (const a of f.msis) { const m = applyAction(f.warm, a).events; const e = b.msiWrite(a); b.step = f.warm.step; deepStrictEqual(e, m); }
}
function time(fn: () => void): number { const t0 = process.hrtime.bigint(); let n = 0; while (Number(process.hrtime.bigint() - t0) < 3e8) { fn(); n++; } return Number(process.hrtime.bigint() - t0) / n / SCALING_BATCH; }
for (let rep = 0; rep < 3; rep++) for (const f of fx) {
  const b = new MutableIrPlatform(f.warm);
  const m = time(() => { for (const a of f.msis) sink = applyAction(f.warm, a); });
  const p = time(() => { for (const a of f.msis) sink = b.msiWrite(a); });
  console.log(`${f.devices} dev ${f.units} units  model ${m.toFixed(0)} ns  base ${p.toFixed(0)} ns  ratio ${(m / p).toFixed(1)}`);
}
