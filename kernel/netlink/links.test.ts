/**
 * links.ts and kernel/netns.ts against the real kernel, in two fresh namespaces: sockets opened inside each
 * by setns (the thread returns to its own namespace afterwards), a veth pair created from A with its peer
 * placed into B by IFLA_NET_NS_FD, addresses, a permanent neighbour, read back and deleted. Needs root.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { closeFd, openNetns, withNetns } from '../netns.js';
import { encodeDelLink, encodeNewAddr, encodeNewNeigh, encodeNewVeth, encodeSetLink, IfFlag } from './link-codec.js';
import { Errno, getLink, listAddrs, runBatch } from './links.js';
import { NetlinkSocket } from './socket.js';

const A = `caracal-lk-${process.pid}-a`;
const B = `caracal-lk-${process.pid}-b`;
const skip = process.getuid?.() !== 0 ? 'needs root (ip netns)' : false;

describe('links over netlink, across namespaces', { skip }, () => {
  let fdA = -1;
  let fdB = -1;
  let nlA: NetlinkSocket | undefined;
  let nlB: NetlinkSocket | undefined;

  before(() => {
    for (const ns of [A, B]) execFileSync('ip', ['netns', 'add', ns]);
    fdA = openNetns(`/run/netns/${A}`);
    fdB = openNetns(`/run/netns/${B}`);
  });
  after(() => {
    nlA?.close();
    nlB?.close();
    closeFd(fdA);
    closeFd(fdB);
    for (const ns of [A, B]) spawnSync('ip', ['netns', 'del', ns]);
  });

  it('`withNetns()` opens sockets inside each namespace and returns the thread to its own', () => {
    const self = readlinkSync('/proc/thread-self/ns/net');
    nlA = withNetns(fdA, () => NetlinkSocket.open());
    nlB = withNetns(fdB, () => NetlinkSocket.open());
    assert.equal(readlinkSync('/proc/thread-self/ns/net'), self);
    assert.throws(
      () =>
        withNetns(fdA, () => {
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.equal(readlinkSync('/proc/thread-self/ns/net'), self, 'back home after a throw');
    assert.throws(
      () => openNetns('/run/netns/does-not-exist'),
      (e: { details?: { errno?: number } }) => e.details?.errno === 2,
    );
  });

  it('creates a veth whose peer lands in the other namespace, configures and deletes it', () => {
    const a = nlA as NetlinkSocket;
    const b = nlB as NetlinkSocket;
    runBatch(a, [
      {
        what: 'create',
        encode: (s) =>
          encodeNewVeth(
            { name: 'vA', mac: 'ee:ee:ee:ee:ee:ee', mtu: 1400 },
            { name: 'vB', mtu: 1400, netnsFd: fdB },
            s,
          ),
      },
    ]);
    assert.equal(getLink(a, { name: 'vB' }), undefined, 'the peer is not in A');
    const la = getLink(a, { name: 'vA' });
    const lb = getLink(b, { name: 'vB' });
    assert.ok(la && lb);
    assert.equal(la.mac, 'ee:ee:ee:ee:ee:ee');
    assert.equal(la.kind, 'veth');
    assert.equal(lb.mtu, 1400);
    runBatch(a, [
      { what: 'up', encode: (s) => encodeSetLink({ index: la.index }, { up: true, alias: 'caracal:x' }, s) },
    ]);
    runBatch(b, [
      { what: 'up', encode: (s) => encodeSetLink({ index: lb.index }, { up: true }, s) },
      {
        what: 'addr',
        encode: (s) => encodeNewAddr({ family: 4, index: lb.index, address: '10.9.0.2', prefixLen: 32 }, s),
      },
      {
        what: 'addr6',
        encode: (s) => encodeNewAddr({ family: 6, index: lb.index, address: 'fd09::2', prefixLen: 128 }, s),
      },
      {
        what: 'neigh',
        encode: (s) =>
          encodeNewNeigh({ family: 4, index: lb.index, dst: '169.254.1.1', lladdr: 'ee:ee:ee:ee:ee:ee' }, s),
      },
    ]);
    const again = getLink(a, { name: 'vA' });
    assert.equal(again?.alias, 'caracal:x');
    assert.ok((again?.flags ?? 0) & IfFlag.Up);
    const addrs = listAddrs(b, undefined, lb.index).map((x) => `${x.address}/${x.prefixLen}`);
    assert.ok(addrs.includes('10.9.0.2/32') && addrs.includes('fd09::2/128'), addrs.join(' '));
    assert.match(
      execFileSync('ip', ['-n', B, 'neigh'], { encoding: 'utf8' }),
      /169\.254\.1\.1 dev vB lladdr ee:ee:ee:ee:ee:ee PERMANENT/,
    );
    // A refusal names the operation and carries the errno; listed errnos count as success.
    assert.throws(
      () => runBatch(a, [{ what: 'create again', encode: (s) => encodeNewVeth({ name: 'vA' }, { name: 'vC' }, s) }]),
      (e: Error & { details?: { errno?: number } }) =>
        e.details?.errno === Errno.EEXIST && /create again/.test(e.message),
    );
    runBatch(a, [{ what: 'del', encode: (s) => encodeDelLink({ name: 'vA' }, s) }]);
    assert.equal(getLink(a, { name: 'vA' }), undefined);
    assert.equal(getLink(b, { name: 'vB' }), undefined, 'deleting one end deletes the pair');
    runBatch(a, [{ what: 'del twice', encode: (s) => encodeDelLink({ name: 'vA' }, s), okErrnos: [Errno.ENODEV] }]);
  });
});
