import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseIp } from '../model/ip.js';
import { IPPool } from '../model/ip-pool.js';
import { blockCidrFor, candidateBlocks, selectorMatches, selectPools } from './pools.js';

const pool = (name: string, cidr: string, extra: Record<string, unknown> = {}) =>
  IPPool.parse({ apiVersion: 'crd.caracal.dev/v1', kind: 'IPPool', metadata: { name }, spec: { cidr, ...extra } });

describe('ipam/pools', () => {
  it('`candidateBlocks()` visits every block of the pool exactly once, starting where the node name says', () => {
    const p = pool('p', '10.0.0.0/24', { blockSize: 28 });
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), (node) => {
        const seq = [...candidateBlocks(p, node)];
        assert.equal(seq.length, 16);
        assert.equal(new Set(seq).size, 16);
        assert.deepEqual([...candidateBlocks(p, node)], seq, 'the same node gets the same order');
      }),
    );
    const starts = new Set(['w1', 'w2', 'w3', 'w4', 'w5'].map((n) => candidateBlocks(p, n).next().value));
    assert.ok(starts.size >= 3, 'different nodes start at different blocks');
  });

  it('`blockCidrFor()` gives the block of an address by the pool`s block size', () => {
    assert.equal(blockCidrFor(pool('p', '10.244.0.0/16'), parseIp('10.244.3.70')), '10.244.3.64/26');
    assert.equal(blockCidrFor(pool('p6', 'fd00:10::/48'), parseIp('fd00:10::1:45')), 'fd00:10::1:40/122');
  });

  it('`selectorMatches()` understands the pool selector subset and refuses the rest by name', () => {
    const labels = { zone: 'a', gpu: 'yes' };
    assert.equal(selectorMatches('all()', labels), true);
    assert.equal(selectorMatches('', labels), true);
    assert.equal(selectorMatches("zone == 'a' && has(gpu)", labels), true);
    assert.equal(selectorMatches("zone != 'a'", labels), false);
    assert.equal(selectorMatches('!has(gpu)', labels), false);
    assert.throws(() => selectorMatches("zone in {'a'}", labels), /IPAM|not supported/);
  });

  it('`selectPools()` skips disabled and unselected pools; named pools ignore selectors', () => {
    const pools = [
      pool('a', '10.1.0.0/16', { nodeSelector: "zone == 'a'" }),
      pool('b', '10.2.0.0/16', { disabled: true }),
      pool('c', '10.3.0.0/16'),
      pool('v6', 'fd00::/48'),
    ];
    const names = (ps: { metadata: { name: string } }[]) => ps.map((p) => p.metadata.name);
    assert.deepEqual(names(selectPools(pools, 4, { node: 'n', nodeLabels: { zone: 'b' }, use: 'Workload' })), ['c']);
    assert.deepEqual(names(selectPools(pools, 4, { node: 'n', nodeLabels: { zone: 'a' }, use: 'Workload' })), [
      'a',
      'c',
    ]);
    assert.deepEqual(names(selectPools(pools, 4, { node: 'n', nodeLabels: {}, named: ['a'], use: 'Workload' })), ['a']);
    assert.deepEqual(names(selectPools(pools, 6, { node: 'n', nodeLabels: {}, use: 'Workload' })), ['v6']);
    assert.throws(
      () => selectPools(pools, 4, { node: 'n', nodeLabels: {}, use: 'LoadBalancer' }),
      /no enabled IPv4 pool/,
    );
  });
});
