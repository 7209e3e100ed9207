/**
 * `remapsim decode lspci FILE` and `remapsim decode msi ADDRESS DATA`: decode MSI
 * address/data pairs as compatibility format (destination ID, extended destination
 * bits, mode, vector, delivery mode, trigger) or VT-d remappable format (handle, SHV,
 * subhandle, IRTE index).
 */
import { decodeMsi, type DecodedMsi } from '../vtd/remappable-msi.ts';
import { loadLspci } from '../inputs/lspci.ts';
import { InputError } from '../io/input-error.ts';
import { hexDigits } from '../bits/bits.ts';
import { formatMsiAddress } from '../scenario/trace.ts';

const h = (v: number): string => `0x${v.toString(16)}`;

/** The JSON object for one pair (keys as the README documents them). */
export function decodedToJson(device: string | undefined, m: DecodedMsi): Record<string, unknown> {
  const base = { ...(device === undefined ? {} : { device }), address: `0x${formatMsiAddress(m.address)}`, data: `0x${hexDigits(m.data, 4)}`, format: m.format };
  switch (m.format) {
    case 'compatibility':
      return {
        ...base,
        destinationId: m.destinationId,
        extendedDestinationId: m.extendedDestinationId,
        vector: m.vector,
        deliveryMode: m.deliveryMode,
        destinationMode: m.destinationModeLogical ? 'logical' : 'physical',
        triggerMode: m.triggerMode,
        redirectionHint: m.redirectionHint,
      };
    case 'remappable':
      return { ...base, handle: m.handle, shv: m.shv, subhandle: m.subhandle, irteIndex: m.irteIndex };
    case 'not-interrupt':
      return base;
  }
}

/** One human line for one pair. */
export function describeDecoded(m: DecodedMsi): string {
  switch (m.format) {
    case 'compatibility': {
      const ext = m.extendedDestinationId === 0 ? '' : ` (extended destination bits 14:8 = ${h(m.extendedDestinationId)}: APIC ID ${h((m.extendedDestinationId << 8) | m.destinationId)} if the hypervisor advertises the extended destination ID)`;
      return `compatibility: destination ${h(m.destinationId)}${ext} ${m.destinationModeLogical ? 'logical' : 'physical'}${m.redirectionHint ? ' RH' : ''}, vector ${h(m.vector)} ${m.deliveryMode} ${m.triggerMode}`;
    }
    case 'remappable':
      return `remappable: handle ${h(m.handle)} SHV=${m.shv ? 1 : 0} subhandle ${h(m.subhandle)} → IRTE index ${h(m.irteIndex)}`;
    case 'not-interrupt':
      return 'not an interrupt address (outside 0xFEE00000-0xFEEFFFFF): an ordinary DMA write';
  }
}

/** Output of `decode lspci`. @throws InputError for an unreadable or non-lspci file. */
export function decodeLspci(file: string, json: boolean): string {
  const entries = loadLspci(file);
  const out: string[] = [];
  for (const e of entries) {
    if (e.address === undefined || e.data === undefined) {
      if (!json) out.push(`${e.device} ${e.capability.padEnd(5)} ${e.enabled ? 'enabled ' : 'disabled'} (lspci does not print MSI-X table contents)`);
      continue;
    }
    const m = decodeMsi(e.address, e.data);
    if (!json && !e.enabled && e.address === 0n && e.data === 0) {
      out.push(`${e.device} ${e.capability.padEnd(5)} ${formatMsiAddress(e.address)}/${hexDigits(e.data, 4)} (disabled, never programmed)`);
      continue;
    }
    if (json) out.push(JSON.stringify({ ...decodedToJson(e.device, m), capability: e.capability, enabled: e.enabled, line: e.line }));
    else out.push(`${e.device} ${e.capability.padEnd(5)} ${formatMsiAddress(e.address)}/${hexDigits(e.data, 4)} ${e.enabled ? '' : '(disabled) '}${describeDecoded(m)}`);
  }
  return out.join('\n') + (out.length ? '\n' : '');
}

function parseHexArg(text: string, what: string, maxBits: number): bigint {
  const t = text.trim().toLowerCase();
  if (!/^(0x)?[0-9a-f]+$/.test(t)) throw new InputError(`expected a hex number, got '${text}'`, { field: what });
  const v = BigInt(t.startsWith('0x') ? t : `0x${t}`);
  if (v >> BigInt(maxBits) !== 0n) throw new InputError(`'${text}' does not fit in ${maxBits} bits`, { field: what });
  return v;
}

/** Output of `decode msi ADDRESS DATA` (both hex, with or without 0x). @throws InputError on bad numbers. */
export function decodeMsiPair(address: string, data: string, json: boolean): string {
  const m = decodeMsi(parseHexArg(address, 'ADDRESS', 64), Number(parseHexArg(data, 'DATA', 32)));
  return (json ? JSON.stringify(decodedToJson(undefined, m)) : `${formatMsiAddress(m.address)}/${hexDigits(m.data, 4)} ${describeDecoded(m)}`) + '\n';
}
