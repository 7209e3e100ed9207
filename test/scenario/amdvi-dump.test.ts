// `remapsim dump` on AMD-Vi platforms (src/scenario/amdvi-dump.ts): every unit's registers in
// the layout of Linux's amd debugfs `mmio` file, the command buffer as `cmdbuf`, the DTEs in use
// as `devtbl`, each device's interrupt table as `irqtbl` and as Xen's AMD 'V' key prints it, the
// event log as Linux logs it, and the GA log; stale cache copies and bad table lengths flagged.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, repo, tempDir, type CliResult } from '../cli/cli-harness.ts';

const REMAPPED = repo('specs/amd/remapped.yaml');
const POSTED = repo('specs/amd/avic-posted.yaml');
const tmp = tempDir('amdvi-dump');
afterAll(() => tmp.cleanup());

/** A spec with `extra` steps appended (the IVRS path made absolute). */
function variant(spec: string, name: string, extra: string): string {
  const text = readFileSync(spec, 'utf8').replace('ivrs: ../../data/real-inputs/ivrs/', `ivrs: ${repo('data/real-inputs/ivrs')}/`);
  return tmp.write(name, `${text.trimEnd()}\n${extra}`);
}

/** The lines of the section of unit `name` (sections start with ` AMD-Vi IOMMU: <name>`). */
function unit(dump: string, name: string): string[] {
  const blocks = dump.split(/\n\n(?= AMD-Vi IOMMU: )/);
  const b = blocks.find((s) => s.startsWith(` AMD-Vi IOMMU: ${name} `));
  expect(b, `section ${name}`).toBeDefined();
  return b!.split('\n');
}

describe('dump specs/amd/remapped.yaml (Zenith II IVRS, four units)', () => {
  let r: CliResult;
  beforeAll(async () => {
    r = await cli(['dump', REMAPPED]);
  });

  it('runs and prints every unit, ivhd0..ivhd3, with its EFR as Linux names it', () => {
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect([...r.out.matchAll(/^ AMD-Vi IOMMU: (ivhd\d) /gm)].map((m) => m[1])).toEqual(['ivhd0', 'ivhd1', 'ivhd2', 'ivhd3']);
    expect(unit(r.out, 'ivhd0')[1]).toBe(' AMD-Vi: Extended features (0x58f77ef22294ade, 0x0): PPR X2APIC NX GT IA GA PC GA_vAPIC');
    expect(unit(r.out, 'ivhd1')).toContain(' (no device table: DEVICE_TABLE_BASE = 0, so no DTE or interrupt table to show)');
  });

  it('registers in the debugfs mmio layout, decoded', () => {
    const u = unit(r.out, 'ivhd0');
    expect(u).toContain(' Offset:0x18 Value:0x000c000000021485  CONTROL: IommuEn EventLogEn InvTimeOut=0x4 Coherent CmdBufEn GAEn XTEn IntCapXTEn');
    expect(u).toContain(' Offset:0x0 Value:0x00000000100001ff  DEVICE_TABLE_BASE: Size=0x1ff Base=0x10000 → 2097152 bytes (65536 DTEs) at 0x10000000');
    expect(u.filter((l) => /^ Offset:0x[0-9a-f]+ Value:0x[0-9a-f]{16} {2}[A-Z_0-9]+: /.test(l))).toHaveLength(20);
  });

  it('the command buffer as cmdbuf: head/tail in entries, the three commands decoded', () => {
    const u = unit(r.out, 'ivhd0');
    expect(u).toContain(' CMD Buffer Head Offset:3 Tail Offset:3');
    expect(u).toContain('   0: 00006100 20000000 00000000 00000000  INVALIDATE_DEVTAB_ENTRY DeviceID=0x6100 Opcode=0x2');
  });

  it('the DTE as devtbl prints it (qwords high first, iommu index), then decoded', () => {
    const u = unit(r.out, 'ivhd0');
    const i = u.indexOf(' DeviceId             QWORD[3]         QWORD[2]         QWORD[1]         QWORD[0] iommu');
    expect(i).toBeGreaterThan(0);
    expect(u[i + 1]).toBe(' 0000:61:00.0 0000000000000000 2000000010300013 0000000000000001 6000000000000003 iommu0');
    expect(u[i + 2]).toBe('   V TV Mode=0 PtRoot=0x0 IR IW DomainID=1 IV IntCtl=remap IntTabLen=9 IntTab=0x10300000');
  });

  it('the interrupt table as irqtbl (128-bit: hi lo) and as Xen\'s V key (hi_lo, three hex digits)', () => {
    const u = unit(r.out, 'ivhd0');
    expect(u).toContain(' DeviceId 0000:61:00.0');
    expect(u).toContain(' IRT[0005] 0000000000000041 0000000000012c01  RemapEn vector=0x41 dest=0x12c fixed physical');
    expect(u).toContain(' --- Dumping Per-dev IOMMU Interrupt Remapping Table ---');
    expect(u).toContain('   0000:61:00.0:');
    expect(u).toContain('     IRTE[005] 0000000000000041_0000000000012c01');
  });

  it('the event log as Linux logs it: IRTE 6 was never written', () => {
    expect(unit(r.out, 'ivhd0')).toContain('   AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:61:00.0 domain=0x0001 address=0xfee00000 flags=0x0008]');
  });

  it('a changed IRTE that was not invalidated shows the stale IRTE-cache copy; an invalidated one does not', async () => {
    const stale = await cli(['dump', variant(REMAPPED, 'stale.yaml', '  - amd-irte: { device: "61:00.0", index: 5, vector: 0x42, destination: 300 }\n')]);
    expect(stale.code).toBe(0);
    expect(stale.out).toContain(' IRT[0005] 0000000000000042 0000000000012c01  RemapEn vector=0x42 dest=0x12c fixed physical  [IRTE cache holds stale 00000000000000410000000000012c01]');
    const flushed = await cli([
      'dump',
      variant(REMAPPED, 'flushed.yaml', '  - amd-irte: { device: "61:00.0", index: 5, vector: 0x42, destination: 300 }\n  - amd-command: { iommu: 0, command: invalidate-interrupt-table, deviceId: "61:00.0" }\n'),
    ]);
    expect(flushed.out).toContain(' IRT[0005] 0000000000000042 0000000000012c01  RemapEn vector=0x42 dest=0x12c fixed physical');
    expect(flushed.out).not.toContain('IRTE cache holds stale');
  });

  it("a DTE with an IntTabLen Linux never writes gets Linux's message instead of the table", async () => {
    const bad = await cli(['dump', variant(REMAPPED, 'len.yaml', '  - dte: { device: "61:00.0", mode: 0, ir: true, iw: true, domainId: 1, table: 0x10300000, intTabLen: 8 }\n')]);
    expect(bad.code).toBe(0);
    expect(bad.out).toContain(" The device's DTE contains an invalid IRT length value.");
    expect(bad.out).not.toContain(' IRT[0005]');
    // The DTE cache still holds the one the unit read before the change: shown as stale.
    expect(bad.out).toContain('[DTE cache holds stale ');
  });
});

describe('dump specs/amd/avic-posted.yaml (T14 Gen 3 IVRS, GA mode)', () => {
  let r: CliResult;
  beforeAll(async () => {
    r = await cli(['dump', POSTED]);
  });

  it('the guest-mode IRTE with the vCPU owning its backing page, and the consumed GA-log entry', () => {
    expect(r.code).toBe(0);
    const u = unit(r.out, 'ivhd0');
    expect(u).toContain(' IRT[0000] 0000000040000051 0000001000000285  RemapEn GuestMode GATag=0x10 vector=0x51 backing=0x40000000 IsRun=0 dest=0x2 GALogIntr (vm1.vcpu0, runnable)');
    expect(u).toContain('     IRTE[000] 0000000040000051_0000001000000285');
    expect(u).toContain(' Offset:0x18 Value:0x0000000032021485  CONTROL: IommuEn EventLogEn InvTimeOut=0x4 Coherent CmdBufEn GAEn GAMEn=0x1 GALogEn GAIntEn');
    expect(u).toContain('   GA log 0x10204000: 1000040000000010  GATag=0x10 DeviceID=0000:04:00.0 type=1 (consumed: before head)');
  });
});

describe('VT-d dumps are untouched', () => {
  it('specs/default.yaml still dumps its DMAR units', async () => {
    const d = await cli(['dump', repo('specs/default.yaml')]);
    expect(d.code).toBe(0);
    expect(d.out).toContain(' Remapped Interrupt supported on IOMMU: dmar0');
    expect(d.out).not.toContain('AMD-Vi IOMMU');
  });
});
