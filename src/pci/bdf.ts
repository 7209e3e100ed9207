/**
 * PCI requester IDs (BDF). A requester ID is 16 bits: bus [15:8], device [7:3],
 * function [2:0] (PCI Express Base Spec §2.2.6.2; Linux `PCI_DEVID`, `PCI_SLOT`,
 * `PCI_FUNC`). The VT-d source-id (SID) is this value.
 */

export type RequesterId = number;

export interface Bdf {
  readonly bus: number;
  readonly device: number;
  readonly fn: number;
}

/** Compose a 16-bit requester ID. @throws RangeError when bus > 255, device > 31 or fn > 7. */
export function requesterId(bus: number, device: number, fn: number): RequesterId {
  if (!(bus >= 0 && bus <= 0xff && device >= 0 && device <= 0x1f && fn >= 0 && fn <= 7)) {
    throw new RangeError(`invalid BDF ${bus}:${device}.${fn}`);
  }
  return (bus << 8) | (device << 3) | fn;
}

/** Split a requester ID into bus, device, function. */
export function splitRequesterId(rid: RequesterId): Bdf {
  return { bus: (rid >> 8) & 0xff, device: (rid >> 3) & 0x1f, fn: rid & 7 };
}

/** Format as lspci does: `bb:dd.f` (lower-case hex), or `ssss:bb:dd.f` when a segment is given. */
export function formatBdf(rid: RequesterId, segment?: number): string {
  const { bus, device, fn } = splitRequesterId(rid);
  const b = `${bus.toString(16).padStart(2, '0')}:${device.toString(16).padStart(2, '0')}.${fn}`;
  return segment === undefined ? b : `${segment.toString(16).padStart(4, '0')}:${b}`;
}

const BDF_RE = /^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/;

/**
 * Parse `bb:dd.f` or `ssss:bb:dd.f` (hex). Returns undefined when the text is not a BDF
 * or a part is out of range (device > 0x1f).
 */
export function parseBdf(text: string): { segment: number; rid: RequesterId } | undefined {
  const m = BDF_RE.exec(text.trim());
  if (!m) return undefined;
  const device = parseInt(m[3]!, 16);
  if (device > 0x1f) return undefined;
  return {
    segment: m[1] === undefined ? 0 : parseInt(m[1], 16),
    rid: requesterId(parseInt(m[2]!, 16), device, parseInt(m[4]!, 10)),
  };
}
