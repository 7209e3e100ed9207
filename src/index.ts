/**
 * remapsim as a library: the same functions the CLI uses, typed and documented in
 * their modules. Hardware codecs are bit-exact (each cites its source); the platform is
 * an immutable value advanced by `applyAction`; properties read events and state.
 *
 * Published as compiled ESM with type declarations (`import { … } from 'remapsim'`,
 * Node ≥ 20.19); the API reference is docs/api/. Register-sized codec arguments take a
 * number or a bigint (`decodeMsi(0xfee00538, 0)`); 64-bit and wider results are bigints.
 *
 * @packageDocumentation
 */

// Scenarios: YAML → compiled steps → a run with its trace.
export { parseScenarioFile, parseScenarioText } from './scenario/parse.ts';
export { compileScenario, type CompiledScenario, type CompiledStep } from './scenario/compile.ts';
export { runScenario, checkExpectation, type RunResult } from './scenario/run.ts';
export { formatTrace, formatJsonTrace, formatEvent, describeIrte } from './scenario/trace.ts';
export { formatIrtDump, formatDmaDump } from './scenario/dump.ts';

// The platform model.
export { buildPlatform, DEFAULT_PID_BASE, DEFAULT_TABLE_ARENA, type PlatformDescription } from './platform/build.ts';
export { applyAction, applyActions, type TransitionResult } from './platform/transition.ts';
export { irEnableSequence } from './platform/ir-enable.ts';
export type { Action } from './platform/actions.ts';
export type { PlatformEvent } from './platform/events.ts';
export type { PlatformState, IommuUnit, PciFunction, Vcpu, Grant, DmaGrant } from './platform/state.ts';
export { vcpuAt, vcpuList } from './platform/vcpu-table.ts';
export { PhysicalMemory } from './memory/physical-memory.ts';

// The PCI fabric under the IOMMU (docs/topology.md).
export * from './fabric/model.ts';
export { buildFabric } from './fabric/build.ts';
export { dmaAliases, phantomRequesterIds, presentedRequesterIds, defaultRequesterId, type DmaAlias } from './fabric/aliases.ts';
export { requesterIdAtRoot, routeRequest, type RootArrival, type RequestRoute } from './fabric/routing.ts';
export { acsEnabled, acsPathEnabled, missingAcs } from './fabric/acs.ts';
export { iommuGroups, samePartition, type IommuGroup, type GroupReason } from './fabric/groups.ts';
export { msiSourceValidation } from './vtd/source-id.ts';

// IOMMU groups of a scenario's fabric or a machine's lspci (the `groups` command).
export { fabricOfScenario, scenarioFabricDescription } from './scenario/fabric.ts';
export { runGroups, readGroupsInput, compareWithMachine, type GroupsResult, type MachineGroups, type MachineComparison } from './cli/groups.ts';

// The property checker (the `check` command; docs/checking.md).
export { check, type LibraryCheckOptions } from './library/check.ts';
export {
  prepareCheck,
  runCheck,
  formatCheckReport,
  checkExitCode,
  type PreparedCheck,
  type CheckOptions,
  type CheckResult,
  type Counterexample,
  type Coverage,
} from './checker/check.ts';
export { startPool, defaultThreads, type CheckPool } from './checker/pool.ts';
export { DEFAULT_BUDGET, type Budget, type ThreatModel } from './checker/adversary.ts';

// The >255-vCPU explorer (the `explore` command; docs/explorer.md).
export { explore, sweepPoints, parseSweep, type ExploreOptions, type ExploreResult, type RowResult, type SweepResult } from './explorer/explore.ts';
export { formatReport as formatExploreReport, formatJson as formatExploreJson, formatTable as formatExploreTable } from './explorer/format.ts';
export { sweepSvg } from './explorer/svg.ts';
export { loadGuestSupport, type GuestSupportTable, type GuestSupportRow } from './explorer/guest-support.ts';
export { SCHEMES, SCHEME_IDS, ALL_SCHEME_IDS, schemeInfo, type SchemeId, type SchemeInfo } from './explorer/schemes.ts';
export { parseTopology, formatTopology, topologyApicIds, vcpuCount, parseApicIdList, MAX_VCPUS, type Topology } from './explorer/topology.ts';
export { parseQemuCommandLine, parseLibvirtXml, effectiveSettings, schemesForSettings, type VIommuSettings, type SchemeAvailability } from './explorer/vmm-config.ts';
export { parseDebugfs, loadDebugfs, type DebugfsDump, type DebugfsIrte, type DebugfsIrUnit, type DebugfsContext, type DebugfsDmarUnit, type DebugfsRegset } from './inputs/debugfs.ts';
export { SCHEME_CONFIGS, VMM_LIMITS, schemeConfig, configProblems, type SchemeConfig, type QemuConfig, type LibvirtConfig, type VmmLimits } from './explorer/config.ts';

// Properties.
export { checkInterruptIsolation } from './properties/p1-interrupt-isolation.ts';
export { checkDmaIsolation } from './properties/p2-dma-isolation.ts';
export { checkNoLostInterrupt } from './properties/p3-no-lost-interrupt.ts';
export { checkCoherence } from './properties/p4-coherence.ts';
export { checkFaultAccountability } from './properties/p6-fault-accountability.ts';

// Hypervisor policies.
export { POLICIES, policyNamed, registerPolicy } from './policy/index.ts';
export { VMM_DESIGNS, vmmDesignNamed, registerVmmDesign } from './vmm/index.ts';
export type { VmmDesign } from './vmm/design.ts';
export { loadScenarioModules, loadScenarioModulesOf } from './scenario/load-modules.ts';
export type { HypervisorPolicy } from './policy/policy.ts';

// Codecs. Register-sized arguments accept a number (an exact integer) or a bigint.
export type { UintInput } from './bits/uint-arg.ts';
export { decodeIrte, encodeIrte } from './vtd/irte.ts';
export { decodePid, encodePid } from './vtd/pid.ts';
export { decodeAmdMsi } from './amdvi/remappable-msi.ts';
export { decodeAmdIrte, decodeLegacyIrte, decodeGaIrte } from './amdvi/irte.ts';
export { decodeDte } from './amdvi/dte.ts';
export * as amdMsi from './amdvi/remappable-msi.ts';
export * as amdIrte from './amdvi/irte.ts';
export * as amdDte from './amdvi/dte.ts';
export * as amdRegisters from './amdvi/registers.ts';
export * as amdEfr from './amdvi/efr.ts';
export * as amdCommands from './amdvi/commands.ts';
export * as amdEventLog from './amdvi/event-log.ts';
export * as msi from './x86/msi.ts';
export * as remappableMsi from './vtd/remappable-msi.ts';
export * as irte from './vtd/irte.ts';
export * as pid from './vtd/pid.ts';
export * as registers from './vtd/registers.ts';
export * as faultReasons from './vtd/fault-reasons.ts';
export * as invalidation from './vtd/invalidation.ts';
export * as dmaStructures from './vtd/dma/structures.ts';
export { translateDma, pagingReferenceCount, type DmaTranslation, type DmaWalkFault, type DmaWalkResult } from './vtd/dma/walk.ts';

// Real machine inputs.
export { loadDmar } from './vtd/dmar/load.ts';
export { parseDmarBinary } from './vtd/dmar/parse-binary.ts';
export { parseDmarText } from './vtd/dmar/parse-dsl.ts';
export { loadIvrs, sniffAcpiTable } from './amdvi/ivrs/load.ts';
export { parseIvrsBinary } from './amdvi/ivrs/parse-binary.ts';
export { parseIvrsText } from './amdvi/ivrs/parse-dsl.ts';
export { formatIvrsSummary } from './amdvi/ivrs/summary.ts';
export { ivrsToJson } from './amdvi/ivrs/json.ts';
export type { IvrsTable } from './amdvi/ivrs/model.ts';
export { formatDmarSummary } from './vtd/dmar/summary.ts';
export { dmarToJson, type DmarTable } from './vtd/dmar/model.ts';
export { loadLspci, parseLspci } from './inputs/lspci.ts';
export { loadLspciTopology, parseLspciTopology, type LspciTopology } from './inputs/lspci-topology.ts';
export { loadGroupListing, parseGroupListing, type GroupListing } from './inputs/iommu-group-listing.ts';
export { decodeMsi } from './vtd/remappable-msi.ts';
export { InputError } from './io/input-error.ts';
