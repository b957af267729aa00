import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, isCaracalError } from '../common/errors.js';
import { MemoryBackend } from '../datastore/memory/backend.js';
import { createDatastore } from '../datastore/store.js';
import type { Datastore } from '../datastore/types.js';
import { blockAffinityName } from '../model/block-affinity.js';
import { blockName } from '../model/ipam-block.js';
import { Ipam } from './allocator.js';
import { blockProblems, usedCount } from './block.js';

async function storeWith(
  pools: { name: string; cidr: string; blockSize?: number; nodeSelector?: string }[],
  config?: { strictAffinity?: boolean; autoAllocateBlocks?: boolean; maxBlocksPerHost?: number },
): Promise<Datastore> {
  const ds = createDatastore(new MemoryBackend());
  for (const p of pools) {
    await ds.create('IPPool', {
      apiVersion: 'crd.caracal.dev/v1',
      kind: 'IPPool',
      metadata: { name: p.name },
      spec: { cidr: p.cidr, blockSize: p.blockSize, nodeSelector: p.nodeSelector },
    });
  }
  if (config) {
    await ds.create('IPAMConfig', {
      apiVersion: 'crd.caracal.dev/v1',
      kind: 'IPAMConfig',
      metadata: { name: 'default' },
      spec: config,
    });
  }
  return ds;
}

const req = (handleId: string, node: string, num4 = 1, num6 = 0) => ({
  handleId,
  node,
  num4,
  num6,
  attrs: { pod: handleId, namespace: 'default' },
});

const code = (c: string) => (e: unknown) => isCaracalError(e) && e.code === c;

describe('Ipam', () => {
  it('`autoAssign()` claims a block for the node (confirmed affinity) and records the handle', async () => {
    const ds = await storeWith([{ name: 'p4', cidr: '10.244.0.0/16' }]);
    const ipam = new Ipam(ds);
    const { ipv4, ipv6 } = await ipam.autoAssign(req('net.a', 'node-1'));
    assert.equal(ipv4.length, 1);
    assert.equal(ipv6.length, 0);
    const a = ipv4[0]!;
    assert.match(a.ip, /^10\.244\./);
    assert.equal(a.pool, 'p4');
    assert.equal(a.borrowed, false);
    assert.ok(a.blockCidr.endsWith('/26'));
    const aff = await ds.get('BlockAffinity', blockAffinityName('node-1', a.blockCidr));
    assert.equal(aff?.spec.state, 'confirmed');
    const blk = await ds.get('IPAMBlock', blockName(a.blockCidr));
    assert.equal(blk?.spec.affinity, 'host:node-1');
    assert.equal(usedCount(blk!.spec), 1);
    assert.deepEqual(blockProblems(blk!.spec), []);
    assert.equal(
      blk?.spec.sequenceNumberForAllocation[String(Number(a.ip.split('.')[3]) % 64)],
      String(a.sequenceNumber),
    );
    const h = await ds.get('IPAMHandle', 'net.a');
    assert.deepEqual(h?.spec.block, { [a.blockCidr]: 1 });
    // The next pod on the node comes from the same block.
    const b = (await ipam.autoAssign(req('net.b', 'node-1'))).ipv4[0]!;
    assert.equal(b.blockCidr, a.blockCidr);
    assert.notEqual(b.ip, a.ip);
  });

  it('`releaseByHandle()` frees the addresses and the handle, and is idempotent', async () => {
    const ds = await storeWith([
      { name: 'p4', cidr: '10.244.0.0/16' },
      { name: 'p6', cidr: 'fd00:10::/48' },
    ]);
    const ipam = new Ipam(ds);
    const got = await ipam.autoAssign(req('net.a', 'node-1', 2, 1));
    assert.equal(got.ipv4.length, 2);
    assert.equal(got.ipv6.length, 1);
    assert.ok(got.ipv6[0]!.blockCidr.endsWith('/122'));
    const held = await ipam.addressesOf('net.a');
    assert.deepEqual(
      held.map((a) => [a.ip, a.sequenceNumber, a.borrowed]).sort(),
      [...got.ipv4, ...got.ipv6].map((a) => [a.ip, a.sequenceNumber, false]).sort(),
    );
    const released = await ipam.releaseByHandle('net.a');
    assert.deepEqual(await ipam.addressesOf('net.a'), []);
    assert.deepEqual(released.sort(), [...got.ipv4, ...got.ipv6].map((a) => a.ip).sort());
    assert.equal(await ds.get('IPAMHandle', 'net.a'), undefined);
    const blk = await ds.get('IPAMBlock', blockName(got.ipv4[0]!.blockCidr));
    assert.equal(usedCount(blk!.spec), 0, 'the block stays (it has an owner), empty');
    assert.deepEqual(await ipam.releaseByHandle('net.a'), []);
  });

  it('`autoAssign()` is all or nothing: a missing IPv6 pool gives back the IPv4 address', async () => {
    const ds = await storeWith([{ name: 'p4', cidr: '10.244.0.0/16' }]);
    const ipam = new Ipam(ds);
    await assert.rejects(ipam.autoAssign(req('net.a', 'node-1', 1, 1)), code(ErrorCodes.IpamNoPool));
    assert.equal(await ds.get('IPAMHandle', 'net.a'), undefined);
    const blocks = (await ds.list('IPAMBlock')).items;
    assert.equal(blocks.length, 1);
    assert.equal(usedCount(blocks[0]!.spec), 0);
  });

  it('`releaseIps()` refuses a stale sequence number: a reused address stays with its new owner', async () => {
    const ds = await storeWith([{ name: 'p4', cidr: '10.0.0.0/30', blockSize: 32 }]);
    const ipam = new Ipam(ds);
    const first = (await ipam.autoAssign(req('net.a', 'n1'))).ipv4[0]!;
    assert.deepEqual(await ipam.releaseIps([{ ip: first.ip, sequenceNumber: first.sequenceNumber }]), [first.ip]);
    // A /32 block: the next allocation on the node reuses the same address.
    const second = await ipam.assignIp({ ip: first.ip, handleId: 'net.b', node: 'n1', attrs: {} });
    assert.notEqual(second.sequenceNumber, first.sequenceNumber);
    const out = await ipam.releaseIpsDetailed([{ ip: first.ip, sequenceNumber: first.sequenceNumber }]);
    assert.deepEqual(out, { released: [], stale: [first.ip], notAllocated: [] });
    assert.deepEqual((await ds.get('IPAMHandle', 'net.b'))?.spec.block, { [second.blockCidr]: 1 });
    assert.deepEqual(await ipam.releaseIps([{ ip: first.ip }]), [first.ip]);
    assert.equal(await ds.get('IPAMHandle', 'net.b'), undefined, 'the last count gone, the handle goes');
  });

  it('`assignIp()` takes the exact address, and refuses one in use or outside every pool', async () => {
    const ds = await storeWith([{ name: 'p4', cidr: '10.244.0.0/16' }]);
    const ipam = new Ipam(ds);
    const a = await ipam.assignIp({ ip: '10.244.7.9', handleId: 'net.a', node: 'n1', attrs: {} });
    assert.equal(a.ip, '10.244.7.9');
    assert.equal(a.blockCidr, '10.244.7.0/26');
    assert.equal((await ds.get('BlockAffinity', blockAffinityName('n1', '10.244.7.0/26')))?.spec.state, 'confirmed');
    await assert.rejects(
      ipam.assignIp({ ip: '10.244.7.9', handleId: 'net.b', node: 'n1', attrs: {} }),
      code(ErrorCodes.IpamAddressInUse),
    );
    await assert.rejects(
      ipam.assignIp({ ip: '10.9.0.1', handleId: 'net.b', node: 'n1', attrs: {} }),
      code(ErrorCodes.IpamNotInPool),
    );
    assert.equal(await ds.get('IPAMHandle', 'net.b'), undefined, 'a refused assign leaves no handle');
  });

  it('borrows from another node`s block only when strictAffinity is off', async () => {
    // Two /31 blocks in a /30: node a and node b claim one each; node c has nothing left to claim.
    for (const strict of [false, true]) {
      const ds = await storeWith([{ name: 'p4', cidr: '10.0.0.0/30', blockSize: 31 }], {
        strictAffinity: strict,
        autoAllocateBlocks: true,
      });
      const ipam = new Ipam(ds, { cacheTtlMs: 0 });
      await ipam.autoAssign(req('h.a', 'a'));
      await ipam.autoAssign(req('h.b', 'b'));
      if (strict) {
        await assert.rejects(ipam.autoAssign(req('h.c', 'c')), code(ErrorCodes.IpamPoolExhausted));
        continue;
      }
      const c = (await ipam.autoAssign(req('h.c', 'c'))).ipv4[0]!;
      assert.equal(c.borrowed, true);
      const blk = await ds.get('IPAMBlock', blockName(c.blockCidr));
      assert.notEqual(blk?.spec.affinity, 'host:c');
    }
  });

  it('`autoAssign()` is all or nothing when borrowing: a failed write to a second block gives back the first', async () => {
    // Two /31 blocks, one free address in each (nodes a and b hold the others); node c borrows both.
    const ds = await storeWith([{ name: 'p4', cidr: '10.0.0.0/30', blockSize: 31 }], {
      strictAffinity: false,
      autoAllocateBlocks: true,
    });
    await new Ipam(ds).autoAssign(req('h.a', 'a'));
    await new Ipam(ds).autoAssign(req('h.b', 'b'));
    let blockWrites = 0;
    const failing = new Proxy(ds, {
      get(target, prop, receiver) {
        if (prop === 'update')
          return (kind: string, obj: unknown) => {
            if (kind === 'IPAMBlock' && ++blockWrites === 2)
              return Promise.reject(new Error('injected: etcd went away'));
            return (target.update as (k: string, o: unknown) => Promise<unknown>)(kind, obj);
          };
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    await assert.rejects(new Ipam(failing, { cacheTtlMs: 0 }).autoAssign(req('h.c', 'c', 2)), /injected/);
    for (const b of (await ds.list('IPAMBlock')).items) {
      const holders = b.spec.allocations.filter((x) => x !== null).map((x) => b.spec.attributes[x]?.handle_id);
      assert.ok(!holders.includes('h.c'), `${b.spec.cidr} still holds an address for h.c: ${holders}`);
    }
  });

  it('`releaseEmptyBlocks()` keeps the node`s last block; `releaseNodeAffinities()` drops all', async () => {
    const ds = await storeWith([{ name: 'p4', cidr: '10.0.0.0/24', blockSize: 30 }]);
    const ipam = new Ipam(ds);
    await ipam.autoAssign(req('h.a', 'n1', 6)); // two /30 blocks (4 + 2)
    assert.equal((await ds.list('IPAMBlock')).items.length, 2);
    await ipam.releaseByHandle('h.a');
    assert.equal((await ipam.releaseEmptyBlocks('n1')).length, 1);
    assert.equal((await ds.list('IPAMBlock')).items.length, 1);
    assert.equal((await ds.list('BlockAffinity')).items.length, 1);
    assert.deepEqual(await ipam.releaseEmptyBlocks('n1'), [], 'never the last one');
    const kept = (await ipam.autoAssign(req('h.b', 'n1'))).ipv4[0]!;
    assert.equal((await ipam.releaseNodeAffinities('n1')).length, 1);
    assert.equal((await ds.list('BlockAffinity')).items.length, 0);
    const blk = await ds.get('IPAMBlock', blockName(kept.blockCidr));
    assert.equal(blk?.spec.affinity, undefined, 'the address stays; the block has no owner now');
    assert.deepEqual(await ipam.releaseByHandle('h.b'), [kept.ip]);
    assert.equal(await ds.get('IPAMBlock', blockName(kept.blockCidr)), undefined, 'empty and unowned: deleted');
  });

  it('honours the pool nodeSelector and the block limit', async () => {
    const ds = await storeWith([{ name: 'p4', cidr: '10.0.0.0/24', blockSize: 31, nodeSelector: "zone == 'a'" }], {
      strictAffinity: true,
      maxBlocksPerHost: 1,
    });
    await ds.create('Node', {
      apiVersion: 'crd.caracal.dev/v1',
      kind: 'Node',
      metadata: { name: 'n1', labels: { zone: 'a' } },
      spec: {},
    });
    const ipam = new Ipam(ds);
    await assert.rejects(ipam.autoAssign(req('h.x', 'n2')), code(ErrorCodes.IpamNoPool));
    await ipam.autoAssign(req('h.a', 'n1', 2));
    await assert.rejects(ipam.autoAssign(req('h.b', 'n1')), code(ErrorCodes.IpamBlockLimit));
  });
});
