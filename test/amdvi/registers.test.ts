import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AMDVI_MMIO,
  CONTROL_REGISTER,
  DEVICE_TABLE_BASE_REGISTER,
  EXCLUSION_BASE_REGISTER,
  EXCLUSION_LIMIT_REGISTER,
  GA_LOG_BASE_REGISTER,
  GA_LOG_POINTER_REGISTER,
  GA_LOG_TAIL_ADDRESS_REGISTER,
  RING_BASE_REGISTER,
  RING_POINTER_REGISTER,
  STATUS_REGISTER,
  STATUS_RW1C_MASK,
  XT_INT_CONTROL_REGISTER,
  deviceTableAddress,
  deviceTableBytes,
  encodeDeviceTableBase,
  encodeRingBase,
  ringAddress,
  ringBytes,
  ringEntries,
} from '../../src/amdvi/registers.ts';
import { emptyAmdViUnit, writeControl } from '../../src/amdvi/unit.ts';
import { RUNS, bitsN } from '../codecs/arbitraries.ts';

const CODECS = [
  CONTROL_REGISTER,
  STATUS_REGISTER,
  DEVICE_TABLE_BASE_REGISTER,
  RING_BASE_REGISTER,
  GA_LOG_BASE_REGISTER,
  GA_LOG_TAIL_ADDRESS_REGISTER,
  RING_POINTER_REGISTER,
  GA_LOG_POINTER_REGISTER,
  EXCLUSION_BASE_REGISTER,
  EXCLUSION_LIMIT_REGISTER,
  XT_INT_CONTROL_REGISTER,
];

describe('AMD-Vi MMIO map (sheet §2.2, Linux MMIO_*_OFFSET)', () => {
  it('has the offsets Linux and VirtualBox use', () => {
    expect(AMDVI_MMIO.DEVICE_TABLE_BASE).toBe(0x00);
    expect(AMDVI_MMIO.COMMAND_BUFFER_BASE).toBe(0x08);
    expect(AMDVI_MMIO.EVENT_LOG_BASE).toBe(0x10);
    expect(AMDVI_MMIO.CONTROL).toBe(0x18);
    expect(AMDVI_MMIO.EXCLUSION_BASE).toBe(0x20);
    expect(AMDVI_MMIO.EXCLUSION_LIMIT).toBe(0x28);
    expect(AMDVI_MMIO.EXTENDED_FEATURES).toBe(0x30);
    expect(AMDVI_MMIO.PPR_LOG_BASE).toBe(0x38);
    expect(AMDVI_MMIO.GA_LOG_BASE).toBe(0xe0);
    expect(AMDVI_MMIO.GA_LOG_TAIL_ADDRESS).toBe(0xe8);
    expect(AMDVI_MMIO.XT_EVENT_INT_CONTROL).toBe(0x170);
    expect(AMDVI_MMIO.EXTENDED_FEATURES_2).toBe(0x1a0);
    expect(AMDVI_MMIO.COMMAND_HEAD).toBe(0x2000);
    expect(AMDVI_MMIO.COMMAND_TAIL).toBe(0x2008);
    expect(AMDVI_MMIO.EVENT_HEAD).toBe(0x2010);
    expect(AMDVI_MMIO.EVENT_TAIL).toBe(0x2018);
    expect(AMDVI_MMIO.STATUS).toBe(0x2020);
    expect(AMDVI_MMIO.PPR_HEAD).toBe(0x2030);
    expect(AMDVI_MMIO.GA_LOG_HEAD).toBe(0x2040);
    expect(AMDVI_MMIO.GA_LOG_TAIL).toBe(0x2048);
  });
});

describe('Control register (sheet §2.4, Linux CONTROL_*)', () => {
  const f = CONTROL_REGISTER.layout.spec.fields;
  it('places the bits Linux defines', () => {
    // Linux amd_iommu_types.h: CONTROL_IOMMU_EN 0, _HT_TUN_EN 1, _EVT_LOG_EN 2, _EVT_INT_EN 3,
    // _COMWAIT_EN 4, _INV_TIMEOUT 5, _PASSPW_EN 8, _RESPASSPW_EN 9, _COHERENT_EN 10, _ISOC_EN 11,
    // _CMDBUF_EN 12, _PPRLOG_EN 13, _PPRINT_EN 14, _PPR_EN 15, _GT_EN 16, _GA_EN 17, _GAM_EN 25,
    // _GALOG_EN 28, _GAINT_EN 29, _XT_EN 50, _INTCAPXT_EN 51, _IRTCACHEDIS 59, _SNPAVIC_EN 61.
    const expected: Record<string, number> = {
      IommuEn: 0, HtTunEn: 1, EventLogEn: 2, EventIntEn: 3, ComWaitIntEn: 4, InvTimeOut: 5, PassPW: 8, ResPassPW: 9,
      Coherent: 10, Isoc: 11, CmdBufEn: 12, PPRLogEn: 13, PprIntEn: 14, PPREn: 15, GTEn: 16, GAEn: 17, GAMEn: 25,
      GALogEn: 28, GAIntEn: 29, XTEn: 50, IntCapXTEn: 51, IRTCacheDis: 59, SNPAVICEn: 61, GAUpdateDis: 54,
      DevTblSegEn: 34, NumIntRemapMode: 43,
    };
    for (const [name, lo] of Object.entries(expected)) expect([name, f[name as keyof typeof f].lo]).toEqual([name, lo]);
    expect(f.InvTimeOut.hi).toBe(7);
    expect(f.GAMEn.hi).toBe(27);
  });

  it('decodes the value Linux writes for x2APIC + GA + 2K mode', () => {
    // early_enable_iommu: IommuEn | EventLogEn | CmdBufEn | Coherent | InvTimeOut=4 (1 s) | GAEn | XTEn | NumIntRemapMode=01
    const v = 1n | (1n << 2n) | (1n << 12n) | (1n << 10n) | (4n << 5n) | (1n << 17n) | (1n << 50n) | (1n << 43n);
    const d = CONTROL_REGISTER.decode(v);
    expect(d.IommuEn && d.EventLogEn && d.CmdBufEn && d.Coherent && d.GAEn && d.XTEn).toBe(true);
    expect(d.InvTimeOut).toBe(4);
    expect(d.NumIntRemapMode).toBe(1);
    expect(d.IntCapXTEn).toBe(false);
    expect(d.reserved).toBe(0n);
  });

  it('reserves bits 49 and 57', () => {
    expect(CONTROL_REGISTER.layout.reservedMask).toBe((1n << 49n) | (1n << 57n));
  });
});

describe('Status register (sheet §2.6)', () => {
  it('has the RW1C bits VirtualBox lists (mask 0x68E67)', () => {
    const d = STATUS_REGISTER.decode(STATUS_RW1C_MASK);
    const set = Object.entries(d).filter(([, v]) => v === true).map(([k]) => k).sort();
    expect(set).toEqual(
      ['ComWaitInt', 'EventLogInt', 'EventOverflow', 'EvtOverflowB', 'GAInt', 'GALOverflow', 'PprInt', 'PprOverflow', 'PprOverflowB', 'PprOverflowEarly', 'PprOverflowEarlyB'].sort(),
    );
  });
});

describe('every register codec round-trips any 64-bit pattern', () => {
  for (const c of CODECS) {
    it(c.name, () => {
      fc.assert(
        fc.property(bitsN(64), (x) => c.encode(c.decode(x) as never) === x),
        RUNS,
      );
    });
  }
});

describe('base and size rules (sheet §2.3)', () => {
  it('device table size is (Size+1) · 4 KiB; Linux writes (bytes >> 12) − 1', () => {
    const v = encodeDeviceTableBase(0x1234_5000n, 0x20_0000n);
    expect(v).toBe(0x1234_5000n | 0x1ffn);
    expect(deviceTableBytes(v)).toBe(0x20_0000n);
    expect(deviceTableAddress(v)).toBe(0x1234_5000n);
    expect(deviceTableBytes(0n)).toBe(4096n);
    expect(() => encodeDeviceTableBase(0x1234_5800n, 4096n)).toThrow(RangeError);
    expect(() => encodeDeviceTableBase(0x1000n, 0x40_0000n)).toThrow(RangeError);
  });

  it('ring Len is log2 of 16-byte entries (Linux: Len 9 = 512 entries)', () => {
    const v = encodeRingBase(0xabc000n, 9);
    expect(v).toBe(0xabc000n | (9n << 56n));
    expect(ringEntries(v)).toBe(512);
    expect(ringBytes(v)).toBe(8192n);
    expect(ringAddress(v)).toBe(0xabc000n);
    expect(RING_BASE_REGISTER.decode(v)).toMatchObject({ Base: 0xabc, Len: 9, reserved: 0n });
  });
});

describe('writeControl keeps the run bits in step with the enables', () => {
  const unit = emptyAmdViUnit({ index: 0, segment: 0, registerBase: 0xfd20_0000n, deviceId: 2, capabilityOffset: 0x40, efr: 0n });
  const run = (status: bigint): boolean => ((status >> 4n) & 1n) === 1n;
  it('sets CmdBufRun when IommuEn and CmdBufEn turn on, clears it when either is off', () => {
    const a = writeControl(unit.regs, 1n << 12n);
    expect(run(a.status)).toBe(false);
    const b = writeControl(a, (1n << 12n) | 1n);
    expect(run(b.status)).toBe(true);
    const halted = { ...b, status: 0n };
    expect(run(writeControl(halted, b.control).status)).toBe(false); // no toggle: stays halted
    expect(run(writeControl(writeControl(halted, 1n), b.control).status)).toBe(true);
    expect(((writeControl(unit.regs, 1n | 4n).status >> 3n) & 1n) === 1n).toBe(true); // EventLogRun
  });
  it('names the unit as Linux does', () => {
    expect(unit.name).toBe('ivhd0');
    expect(unit.vendor).toBe('amd');
    expect(JSON.parse(JSON.stringify(unit, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)))).toBeTruthy();
  });
});

describe('XT interrupt control (sheet §2.7, Linux union intcapxt)', () => {
  it('splits the 32-bit destination as Linux writes it', () => {
    // intcapxt: dest_mode_logical 2, destid_0_23 31:8, vector 39:32, destid_24_31 63:56
    const v = (0x23_4567n << 8n) | (0xefn << 32n) | (0x01n << 56n);
    expect(XT_INT_CONTROL_REGISTER.decode(v)).toMatchObject({ DestMode: false, DestLo: 0x23_4567, Vector: 0xef, DestHi: 1, reserved: 0n });
  });
});

describe('emptyAmdViUnit', () => {
  it('rejects identity fields that do not fit', () => {
    const ok = { index: 0, segment: 0, registerBase: 0xfd20_0000n, deviceId: 2, capabilityOffset: 0x40, efr: 0n };
    expect(() => emptyAmdViUnit({ ...ok, deviceId: 0x10000 })).toThrow(RangeError);
    expect(() => emptyAmdViUnit({ ...ok, capabilityOffset: 0x100 })).toThrow(RangeError);
    expect(() => emptyAmdViUnit({ ...ok, efr: 1n << 64n })).toThrow(RangeError);
    expect(() => emptyAmdViUnit({ ...ok, dteCacheCapacity: -1 })).toThrow(RangeError);
    expect(emptyAmdViUnit({ ...ok, irteCacheCapacity: 4 }).caches.irte.capacity).toBe(4);
  });
});
