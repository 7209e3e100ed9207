/**
 * remapsim as a library: the same functions the CLI uses, typed and documented in
 * their modules. Hardware codecs are bit-exact (each cites its source); the platform is
 * an immutable value advanced by `applyAction`; properties read events and state.
 */

// Scenarios: YAML → compiled steps → a run with its trace.
export { parseScenarioFile, parseScenarioText } from './scenario/parse.ts';
export { compileScenario, type CompiledScenario, type CompiledStep } from './scenario/compile.ts';
export { runScenario, checkExpectation, type RunResult } from './scenario/run.ts';
export { formatTrace, formatJsonTrace, formatEvent, describeIrte } from './scenario/trace.ts';
export { formatIrtDump } from './scenario/dump.ts';

// The platform model.
export { buildPlatform, type PlatformDescription } from './platform/build.ts';
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

// Properties.
export { checkInterruptIsolation } from './properties/p1-interrupt-isolation.ts';
export { checkDmaIsolation } from './properties/p2-dma-isolation.ts';
export { checkNoLostInterrupt } from './properties/p3-no-lost-interrupt.ts';
export { checkCoherence } from './properties/p4-coherence.ts';
export { checkFaultAccountability } from './properties/p6-fault-accountability.ts';

// Hypervisor policies.
export { POLICIES, policyNamed } from './policy/index.ts';
export type { HypervisorPolicy } from './policy/policy.ts';

// Codecs.
export * as msi from './x86/msi.ts';
export * as remappableMsi from './vtd/remappable-msi.ts';
export * as irte from './vtd/irte.ts';
export * as pid from './vtd/pid.ts';
export * as registers from './vtd/registers.ts';
export * as faultReasons from './vtd/fault-reasons.ts';
export * as invalidation from './vtd/invalidation.ts';
export * as dmaStructures from './vtd/dma/structures.ts';
export { translateDma, pagingReferenceCount } from './vtd/dma/walk.ts';

// Real machine inputs.
export { loadDmar } from './vtd/dmar/load.ts';
export { formatDmarSummary } from './vtd/dmar/summary.ts';
export { dmarToJson, type DmarTable } from './vtd/dmar/model.ts';
export { loadLspci } from './inputs/lspci.ts';
export { loadLspciTopology, parseLspciTopology, type LspciTopology } from './inputs/lspci-topology.ts';
export { loadGroupListing, parseGroupListing, type GroupListing } from './inputs/iommu-group-listing.ts';
export { decodeMsi } from './vtd/remappable-msi.ts';
export { InputError } from './io/input-error.ts';
