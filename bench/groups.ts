/**
 * IOMMU groups of the largest lspci dump of data/real-inputs/lspci/ (bench/cli.ts
 * LARGEST_LSPCI: a ThinkPad T14 Gen 3 AMD, 35 functions), in-process: parsing the dump
 * (`parseLspciTopology`), building its fabric (`buildFabric`), grouping (`iommuGroups`),
 * and the three in a row — what `remapsim groups` computes before formatting.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseLspciTopology } from '../src/inputs/lspci-topology.ts';
import { buildFabric } from '../src/fabric/build.ts';
import { iommuGroups, samePartition } from '../src/fabric/groups.ts';
import type { TimedCase } from './interleaved.ts';
import { LARGEST_LSPCI } from './cli.ts';

export interface GroupsFixture {
  readonly file: string;
  readonly bytes: number;
  readonly functions: number;
  readonly groups: number;
  /** Groups the dump's `IOMMU group:` lines list (for the functions that have one). */
  readonly machineGroups: number;
  readonly cases: readonly TimedCase[];
}

let sink: unknown;

/**
 * The fixture, checked: the computed partition, restricted to the functions the dump gives
 * an `IOMMU group:` line, is the machine's (what `remapsim groups` reports as a match).
 */
export function groupsFixture(): GroupsFixture {
  const file = LARGEST_LSPCI;
  const text = readFileSync(fileURLToPath(new URL(`../${file}`, import.meta.url)), 'utf8');
  const topology = parseLspciTopology(text, file);
  const fabric = buildFabric(topology.description);
  const groups = iommuGroups(fabric);
  const machine = new Map<number, string[]>();
  for (const [key, n] of topology.machineGroups) machine.set(n, [...(machine.get(n) ?? []), key]);
  const computed = groups.map((g) => g.devices.filter((d) => topology.machineGroups.has(d))).filter((g) => g.length > 0);
  const cmp = samePartition(computed, [...machine.values()]);
  if (!cmp.equal || machine.size === 0) throw new Error(`bench fixture check failed: ${file}: computed groups differ from the machine's (${JSON.stringify(cmp)})`);
  const cases: TimedCase[] = [
    { name: 'parse (parseLspciTopology)', ops: 1, run: () => void (sink = parseLspciTopology(text, file)) },
    { name: 'build (buildFabric)', ops: 1, run: () => void (sink = buildFabric(topology.description)) },
    { name: 'group (iommuGroups)', ops: 1, run: () => void (sink = iommuGroups(fabric)) },
    { name: 'parse + build + group', ops: 1, run: () => void (sink = iommuGroups(buildFabric(parseLspciTopology(text, file).description))) },
  ];
  return { file, bytes: Buffer.byteLength(text), functions: Object.keys(fabric.functions).length, groups: groups.length, machineGroups: machine.size, cases };
}
