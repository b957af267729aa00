import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BlockAffinity } from '../model/block-affinity.js';
import { blockName, type IPAMBlock } from '../model/ipam-block.js';
import { allocate, newBlockSpec } from './block.js';
import { ipamRoutes } from './routes.js';

const block = (cidr: string, owner: string | undefined, allocs: [string, string][]): IPAMBlock => {
  let spec = newBlockSpec(cidr, owner && `host:${owner}`, '2026-01-01T00:00:00Z', '1');
  for (const [h, node] of allocs) spec = allocate(spec, 1, h, { node }).spec;
  return { apiVersion: 'crd.caracal.dev/v1', kind: 'IPAMBlock', metadata: { name: blockName(cidr) }, spec };
};
const aff = (node: string, cidr: string, state: 'pending' | 'confirmed'): BlockAffinity => ({
  apiVersion: 'crd.caracal.dev/v1',
  kind: 'BlockAffinity',
  metadata: { name: `${node}-${blockName(cidr)}` },
  spec: { node, cidr, state, type: 'host', deleted: false },
});

describe('ipamRoutes()', () => {
  it('routes confirmed blocks to their node and borrowed addresses as host routes', () => {
    const routes = ipamRoutes(
      [
        block('10.0.0.0/30', 'a', [
          ['h1', 'a'],
          ['h2', 'b'],
        ]),
        block('10.0.0.4/30', 'b', [['h3', 'b']]), // pending: no block route
        block('fd00::/126', undefined, [['h4', 'c']]), // owner gone
      ],
      [aff('a', '10.0.0.0/30', 'confirmed'), aff('b', '10.0.0.4/30', 'pending')],
    );
    assert.deepEqual(routes, [
      { cidr: '10.0.0.0/30', node: 'a', kind: 'block' },
      { cidr: '10.0.0.1/32', node: 'b', kind: 'borrowed' },
      { cidr: '10.0.0.4/32', node: 'b', kind: 'borrowed' },
      { cidr: 'fd00::/128', node: 'c', kind: 'borrowed' },
    ]);
  });
});
