/**
 * IPAM: pools → blocks (default /26 IPv4, /122 IPv6) claimed by nodes → addresses, tracked by handle
 * (docs/ipam.md; design notes and invariants in docs/design/ipam.md).
 *
 *   block.ts      pure block logic: allocate, release (with the per-address sequence number), invariants
 *   pools.ts      pure pool selection, block-of-address, the node's seeded claim order
 *   allocator.ts  `Ipam`: CAS loops over the Datastore port, two-phase affinity claim, borrowing, release
 *   gc.ts         leak check and garbage collection (`caracalctl ipam check|gc`)
 *   routes.ts     what routing advertises: confirmed blocks, borrowed addresses as host routes
 *
 * Handle IDs (the key every caller releases by; Calico's convention, model/ipam-handle.ts):
 *   pods             `<network name>.<containerID>`, e.g. `k8s-pod-network.3f2a…` (workloadHandleId())
 *   tunnel addresses `<type>-tunnel-addr-<node>` (tunnelHandleId())
 * The handle's object name is the ID lower-cased, so an ID must lower-case to a DNS subdomain.
 * Attributes the CNI plugin should pass: `pod`, `namespace`, `containerID` (the allocator adds `node` and
 * `timestamp`); the GC decides liveness from them.
 *
 * Uses the Datastore port only (never a driver); the clock and logger come in as options.
 */
export {
  type AssignedIp,
  type AssignIpRequest,
  type AutoAssignRequest,
  Ipam,
  type IpamOptions,
  type IpInfo,
  type ReleaseIpRequest,
  type ReleaseOutcome,
} from './allocator.js';
export { ATTR, allocatedAddresses, borrowedAddresses } from './block.js';
export {
  type BlockUsage,
  type CheckOptions,
  checkIpam,
  DEFAULT_LEAK_GRACE_MS,
  type GcResult,
  gcIpam,
  type IpamCheck,
  type LeakCandidate,
  type PoolUsage,
  type Problem,
} from './gc.js';
export type { IntendedUse } from './pools.js';
export { type IpamRoute, ipamRoutes } from './routes.js';
