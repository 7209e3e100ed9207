/**
 * Fault events (src/vtd/fault-event.ts, src/platform/event-interrupts.ts; VT-d §7.4,
 * §11.4.7; QEMU `vtd_generate_fault_event`): a recorded fault with FECTL.IM = 0 sends the
 * message of FEDATA/FEADDR/FEUADDR to the APIC it names, not remapped; with IM = 1 (the reset
 * value) IP is set and the message goes out when IM is cleared; a condition while a status
 * field is set is no new interrupt; FSTS is RW1C with PPF derived from the FRCD F bits; the
 * dump prints the registers and decoded fault records.
 */
import { describe, expect, it } from 'vitest';
import { parseScenarioText } from '../../src/scenario/parse.ts';
import { compileScenario } from '../../src/scenario/compile.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { formatIrtDump } from '../../src/scenario/dump.ts';
import { formatTrace } from '../../src/scenario/trace.ts';
import type { PlatformEvent } from '../../src/platform/events.ts';
import { decodeFsts } from '../../src/vtd/registers.ts';
import { writeFsts } from '../../src/vtd/fault-event.ts';

const HEADER = `name: fault events
platform:
  hostAddressWidth: 46
  cpus: { apicIds: [0, 1, 2, 0x123] }
  iommus:
    - { registerBase: 0xfed90000, includePciAll: true }
devices:
  - { bdf: "07:00.0", msix: { tableSize: 2 } }
domains:
  - { name: host, kind: host, cpus: [0, 1, 2, 3] }
steps:
  - enable-ir: { iommu: 0, base: 0x10000000, eime: true, entries: 256 }
`;

/** A compatibility-format MSI: with IR on and EIME = 1 it is blocked, fault 0x25 (one recorded fault per call). */
const FAULT = '  - msi: { device: "07:00.0", address: 0xfee00000, data: 0x30 }';

function run(steps: string[]) {
  const r = runScenario(compileScenario(parseScenarioText(HEADER + steps.join('\n') + '\n', 'fe.yaml')));
  // Steps after enable-ir, from 1.
  const step = (i: number): readonly PlatformEvent[] => r.steps[i]!.events;
  const sent = (i: number) => step(i).filter((e): e is Extract<PlatformEvent, { kind: 'event-interrupt' }> => e.kind === 'event-interrupt');
  return { r, step, sent, unit: r.final.iommus[0]! };
}

describe('fault events', () => {
  it('reset: FECTL.IM = 1, so a recorded fault sets IP and sends nothing', () => {
    const { sent, unit } = run([FAULT]);
    expect(sent(1)).toEqual([]);
    expect(unit.regs.fectl >>> 0).toBe(0xc000_0000);
    expect(decodeFsts(unit.regs.fsts)).toMatchObject({ PPF: true, FRI: 1 });
  });

  it('IM = 0: the fault event goes to FEADDR/FEDATA as a compatibility MSI, not remapped (IR is on with EIME = 1), and the hypervisor takes it', () => {
    const { step, sent, unit } = run(['  - fault-event: { iommu: 0, vector: 0x61, destination: 2 }', FAULT]);
    expect(sent(2)).toMatchObject([{ event: 'fault', address: 0xfee0_2000n, data: 0x61, delivery: 'apic', vector: 0x61, destination: 2, destinationMode: 'physical', targets: [2] }]);
    // The device's own compatibility MSI was blocked; the unit's message was not.
    expect(step(2).find((e) => e.kind === 'interrupt-fault')).toMatchObject({ reason: 0x25, frcd: 0 });
    expect(step(2).find((e) => e.kind === 'hypervisor')).toMatchObject({ request: expect.stringMatching(/interrupt 0x61 on cpu2/) });
    expect(unit.regs.fectl).toBe(0); // IP cleared when sent
  });

  it('a second fault while PPF is still set is no new interrupt condition; once serviced (F cleared), the next fault interrupts again', () => {
    const { sent } = run(['  - fault-event: { iommu: 0, vector: 0x61, destination: 1 }', FAULT, FAULT, '  - clear-fault: { iommu: 0, record: 0 }', '  - clear-fault: { iommu: 0, record: 1 }', FAULT]);
    expect([2, 3, 4, 5, 6].map((i) => sent(i).length)).toEqual([1, 0, 0, 0, 1]);
  });

  it('IM = 1 holds the event in IP; clearing IM sends it (VirtualBox dmarFectlRegWrite, QEMU vtd_handle_fectl_write)', () => {
    const { sent, r } = run([
      '  - fault-event: { iommu: 0, vector: 0x62, destination: 1, masked: true }',
      FAULT,
      '  - write-register: { iommu: 0, register: FECTL, value: 0 }',
      '  - write-register: { iommu: 0, register: FECTL, value: 0 }',
    ]);
    expect(sent(2)).toEqual([]);
    expect(r.steps[2]!.events.length).toBeGreaterThan(0);
    expect(sent(3)).toMatchObject([{ event: 'fault', vector: 0x62, targets: [1] }]);
    expect(sent(4)).toEqual([]); // sent once: IP was cleared
  });

  it('software servicing every status field clears a held IP: nothing is sent when IM is cleared afterwards', () => {
    const { sent, unit } = run(['  - write-register: { iommu: 0, register: FEADDR, value: 0xfee01000 }', FAULT, '  - clear-fault: { iommu: 0, record: 0 }', '  - write-register: { iommu: 0, register: FECTL, value: 0 }']);
    expect(sent(4)).toEqual([]);
    expect(unit.regs.fectl).toBe(0);
  });

  it('an x2APIC destination: FEUADDR bits 31:8 carry destination bits 31:8 (Linux destid_8_31)', () => {
    const { sent } = run(['  - fault-event: { iommu: 0, vector: 0x63, destination: 0x123 }', FAULT]);
    expect(sent(2)).toMatchObject([{ destination: 0x123, targets: [3] }]);
  });

  it('a message address outside 0xFEEx_xxxx is a DWORD memory write, not an interrupt', () => {
    const { sent, r } = run(['  - write-register: { iommu: 0, register: FEDATA, value: 0x61 }', '  - write-register: { iommu: 0, register: FEADDR, value: 0x2000 }', '  - write-register: { iommu: 0, register: FECTL, value: 0 }', FAULT]);
    expect(sent(4)).toMatchObject([{ delivery: 'memory', address: 0x2000n, targets: [] }]);
    expect(r.final.memory.readLE(0x2000n, 4)).toBe(0x61n);
  });

  it('an invalidation-queue error (IQE) is a fault-event interrupt condition too', () => {
    const { sent } = run(['  - fault-event: { iommu: 0, vector: 0x61, destination: 1 }', '  - submit-invalidation: { iommu: 0, descriptors: ["0x0"] }']);
    expect(sent(2)).toMatchObject([{ event: 'fault', vector: 0x61 }]);
  });
});

describe('FSTS: RW1C, PPF derived from the FRCD F bits, FRI read-only', () => {
  it('writing 1 clears PFO, IQE, ICE, ITE (and AFO, APF, PRO); PPF and FRI do not change by writes', () => {
    // Eight records (CAP.NFR = 7): the ninth fault is lost and sets PFO; FRI has wrapped to 0.
    const lost = run(Array.from({ length: 9 }, () => FAULT));
    expect(decodeFsts(lost.unit.regs.fsts)).toMatchObject({ PFO: true, PPF: true, FRI: 0 });
    const cleared = run([...Array.from({ length: 9 }, () => FAULT), '  - write-register: { iommu: 0, register: FSTS, value: 0xffffffff }']);
    expect(decodeFsts(cleared.unit.regs.fsts)).toMatchObject({ PFO: false, PPF: true, IQE: false, FRI: 0 });
    // Unit level: every RW1C field set, all 1s written back: only PPF (F bits set) and FRI remain.
    const u = { ...lost.unit, regs: { ...lost.unit.regs, fsts: 0x05ff } };
    expect(writeFsts(u, 0xffff_ffff).regs.fsts).toBe(0x0502);
    expect(writeFsts(u, 0x10).regs.fsts).toBe(0x05ef);
  });
  it('PFO is set by a lost fault and cleared only by writing 1 to it', () => {
    const { r } = run(Array.from({ length: 9 }, () => FAULT));
    expect(decodeFsts(r.final.iommus[0]!.regs.fsts)).toMatchObject({ PFO: true, PPF: true });
    const last = r.steps[9]!.events.find((e) => e.kind === 'interrupt-fault');
    expect(last).toMatchObject({ frcd: undefined });
  });
  it('PPF follows the F bits: clearing one of two records keeps it, clearing both clears it', () => {
    const one = run([FAULT, FAULT, '  - clear-fault: { iommu: 0, record: 0 }']);
    expect(decodeFsts(one.unit.regs.fsts).PPF).toBe(true);
    const both = run([FAULT, FAULT, '  - clear-fault: { iommu: 0, record: 0 }', '  - clear-fault: { iommu: 0, record: 1 }']);
    expect(decodeFsts(both.unit.regs.fsts).PPF).toBe(false);
    // Writing FSTS.PPF does not clear it while a record has F set.
    const w = run([FAULT, '  - write-register: { iommu: 0, register: FSTS, value: 2 }']);
    expect(decodeFsts(w.unit.regs.fsts).PPF).toBe(true);
  });
});

describe('dump: the register section after the IRT', () => {
  it('prints FSTS, FECTL, FEDATA, FEADDR and the queue registers in debugfs iommu_regset layout, the fault records decoded, and the queue', () => {
    const { r } = run(['  - fault-event: { iommu: 0, vector: 0x61, destination: 1, masked: true }', FAULT, '  - msi: { device: "07:00.0", address: 0xfee00a10, data: 0 }']);
    const dump = formatIrtDump(r.final).split('\n');
    const at = (name: string): string => dump.find((l) => l.startsWith(` ${name.padEnd(24)}`))!;
    expect(dump).toContain(' IOMMU: dmar0 Register Base Address: fed90000');
    expect(dump).toContain(` ${'Name'.padEnd(24)}${'Offset'.padEnd(16)}Contents`);
    expect(at('FSTS')).toBe(` ${'FSTS'.padEnd(24)}${'0x34'.padEnd(16)}0x0000000000000202  PFO=0 PPF=1 IQE=0 ICE=0 ITE=0 FRI=2`);
    expect(at('FECTL')).toBe(` ${'FECTL'.padEnd(24)}${'0x38'.padEnd(16)}0x00000000c0000000  IM=1 IP=1`);
    expect(at('FEDATA')).toMatch(/0x0000000000000061  vector 0x61 fixed edge$/);
    expect(at('FEADDR')).toMatch(/0x00000000fee01000  destination 0x1 physical$/);
    expect(at('IQA')).toMatch(/0x0000000064000000  base 0x64000000, DW=0 \(128-bit\), QS=0 \(256 descriptors\)$/);
    expect(at('IQH')).toMatch(/0x0000000000000020  slot 2$/);
    expect(dump).toContain(' FRCD0 (0x100) 80000025000007000000000000000000: [INTR-REMAP] Request device [07:00.0] fault index 0x0 [fault reason 0x25] Blocked a compatibility format interrupt request');
    expect(dump.find((l) => l.startsWith(' FRCD1'))).toMatch(/\[INTR-REMAP\] Request device \[07:00\.0\] fault index 0x50 \[fault reason 0x22\]/);
    expect(dump).toContain(' Invalidation queue on IOMMU: dmar0');
    expect(dump).toContain(' Base: 0x64000000\tHead: 2\tTail: 2');
    expect(dump).toContain('     1\t0000000200000025\t0000000064002004\t0000000000000002  wait SW STDATA 0x2 STADDR 0x64002004');
  });
  it('the trace names the fault event and the register writes', () => {
    const { r } = run(['  - fault-event: { iommu: 0, vector: 0x61, destination: 1 }', FAULT]);
    const text = formatTrace(r);
    expect(text).toContain('    dmar0 FEADDR ← fee01000 (destination 0x1 physical)');
    expect(text).toContain('    dmar0 fault event → MSI fee01000/00000061, not remapped: vector 0x61 fixed physical dest 0x1 → cpu1');
  });
});
