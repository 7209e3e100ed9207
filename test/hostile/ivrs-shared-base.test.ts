// Issue 16 item 2 (duplicates that cannot coexist): an IVRS whose IVHDs of the type Linux uses put
// two IOMMUs at one MMIO base cannot be a machine — Linux fails request_mem_region for the second
// (drivers/iommu/amd/init.c iommu_map_mmio_space: "This is a BIOS bug") and AMD-Vi stays off — so
// a scenario on it is refused naming the table, the IVHD offsets and the scenario line.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { afterAll } from 'vitest';
import { parseIvrsText } from '../../src/amdvi/ivrs/parse-dsl.ts';
import { sharedMmioBase } from '../../src/scenario/amdvi-platform.ts';
import { cli, repo, tempDir } from '../cli/cli-harness.ts';

const tmp = tempDir('hostile-ivrs-base');
afterAll(() => tmp.cleanup());
const DSL = readFileSync(repo('data/real-inputs/ivrs/asus-prime-x399-a.dsl'), 'utf8');
const SHARED = DSL.replaceAll('Base Address : 00000000B7B00000', 'Base Address : 00000000EFD00000');

describe('two IOMMUs at one MMIO base', () => {
  it('is found among the IVHDs Linux uses (11h here), not across 10h/11h images of one unit', () => {
    expect(sharedMmioBase(parseIvrsText(DSL, 'x399.dsl'))).toBeUndefined();
    expect(sharedMmioBase(parseIvrsText(SHARED, 'shared.dsl'))).toBe('the IVHD (type 11h) at offset 0xf8 has the MMIO base 0xefd00000 of the one at offset 0x78: Linux cannot reserve one MMIO region twice (iommu_map_mmio_space) and leaves AMD-Vi off');
  });
  it('a scenario on it is refused at platform.ivrs, exit 2, one line', async () => {
    const table = tmp.write('shared.dsl', SHARED);
    const scenario = tmp.write('shared.yaml', ['name: shared', 'platform:', `  ivrs: ${table}`, '  cpus: { count: 2 }', 'domains:', '  - { name: host, kind: host, cpus: [0, 1] }', 'steps: []', ''].join('\n'));
    const r = await cli(['run', scenario]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`remapsim: ${scenario}:3: platform.ivrs: ${table}: IVHD Base Address: the IVHD (type 11h) at offset 0xf8 has the MMIO base 0xefd00000 of the one at offset 0x78: Linux cannot reserve one MMIO region twice (iommu_map_mmio_space) and leaves AMD-Vi off\n`);
    const good = tmp.write('good.yaml', ['name: good', 'platform:', `  ivrs: ${repo('data/real-inputs/ivrs/asus-prime-x399-a.dsl')}`, '  cpus: { count: 2 }', 'domains:', '  - { name: host, kind: host, cpus: [0, 1] }', 'steps: []', ''].join('\n'));
    expect((await cli(['run', good])).code).toBe(0);
  });
});
