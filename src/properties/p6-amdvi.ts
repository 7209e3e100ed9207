/**
 * P6 (fault accountability) for faults of AMD-Vi units (the vendor seam, src/platform/vendor.ts):
 * an AMD unit reports a rejected request in its event log (spec 48882 §2.5), not in FRCDs, so
 * the `amdvi` detail of an `interrupt-fault` / `dma-fault` says what became of the entry:
 * written (`logged`), dropped because the log was full or an overflow was pending
 * (`overflow` / `overflow-pending`: logOverflow, Status.EventOverflow set), kept out by the
 * suppression bits the spec gives software (DTE.IG, IRTE.SupIOPF, DTE.SA) or an abort the
 * hardware never logs (IntCtl = 00, a pass bit clear: sheet amdvi-facts.md §4.5) — logSuppressed —
 * or lost because software left Control.EventLogEn clear while the unit was enabled
 * (unaccounted).
 */
import type { AmdEventLogging } from '../platform/amdvi-events.ts';

export type AmdFaultOutcome = { readonly how: 'logged' | 'logOverflow' | 'logSuppressed' } | { readonly how: 'unaccounted'; readonly why: string };

/** How an AMD-Vi fault with event-log fate `logging` is accounted for. */
export function amdFaultOutcome(logging: AmdEventLogging): AmdFaultOutcome {
  switch (logging) {
    case 'logged':
      return { how: 'logged' };
    case 'overflow':
    case 'overflow-pending':
      return { how: 'logOverflow' };
    case 'suppressed':
    case 'none':
      return { how: 'logSuppressed' };
    case 'disabled':
      return { how: 'unaccounted', why: 'the unit is enabled with its event log disabled (Control.EventLogEn = 0): the event is lost' };
  }
}
