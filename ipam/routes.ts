/**
 * What routing should advertise for IPAM state (pure): one route per block to the node whose *confirmed*
 * affinity the block names, and a host route (/32, /128) per address allocated to any other node, i.e.
 * borrowed addresses (calico#3246: the borrowed route must exist and beat the block route). A block whose
 * affinity is pending, missing or pointing elsewhere gets no block route (calico#6867: a pending affinity
 * counts as absent); its allocated addresses are routed one by one to the node their attributes name.
 *
 * felix/ and speaker/ may use this as is; it takes plain objects, so it runs on a watch-fed cache.
 */
import type { BlockAffinity } from '../model/block-affinity.js';
import type { IPAMBlock } from '../model/ipam-block.js';
import { ATTR, affinityNode, allocatedAddresses } from './block.js';

export interface IpamRoute {
  /** Block CIDR, or a single address as /32 or /128. */
  cidr: string;
  node: string;
  kind: 'block' | 'borrowed';
}

/**
 * @example ipamRoutes(blocks, affinities) // [{ cidr: '10.244.3.64/26', node: 'w1', kind: 'block' }, …]
 */
export function ipamRoutes(blocks: readonly IPAMBlock[], affinities: readonly BlockAffinity[]): IpamRoute[] {
  const confirmed = new Set(
    affinities
      .filter((a) => a.spec.state === 'confirmed' && !a.spec.deleted && a.spec.type === 'host')
      .map((a) => `${a.spec.node} ${a.spec.cidr}`),
  );
  const out: IpamRoute[] = [];
  for (const b of blocks) {
    if (b.spec.deleted) continue;
    const owner = affinityNode(b.spec.affinity);
    const routed = owner !== undefined && confirmed.has(`${owner} ${b.spec.cidr}`);
    if (routed) out.push({ cidr: b.spec.cidr, node: owner, kind: 'block' });
    for (const a of allocatedAddresses(b.spec)) {
      const node = a.attrs[ATTR.node];
      if (node === undefined || (routed && node === owner)) continue;
      out.push({ cidr: `${a.ip}/${a.ip.includes(':') ? 128 : 32}`, node, kind: 'borrowed' });
    }
  }
  return out;
}
