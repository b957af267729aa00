/** The RIB with the real codec: what one speaker's Adj-RIB-Out sends, another's Loc-RIB receives. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy, effectivePolicy } from '../policy/policy.js';
import { parsePrefixKey } from '../wire/prefix.js';
import { decodeUpdate, encodeEndOfRib, encodeUpdates, encodeWithdrawals, updateContext } from '../wire/update.js';
import { AdjRibOut, type OutUpdate } from './adj-rib-out.js';
import { baseAttrs } from './attr-intern.js';
import { LocRib } from './loc-rib.js';

function wire(u: OutUpdate, to: LocRib, from: string, ibgp: boolean): number {
  const ctx = updateContext({ fourOctetAs: true, ibgp, intern: (k, b) => to.interner.intern(k, b) });
  let messages = 0;
  const bufs: Buffer[] = [];
  for (const w of u.withdraw) bufs.push(...encodeWithdrawals(w));
  for (const a of u.announce) bufs.push(...encodeUpdates(a.attrs, a.batch, { fourOctetAs: true }));
  for (const e of u.endOfRib) bufs.push(encodeEndOfRib(e));
  for (const m of bufs) {
    to.applyMessage(from, decodeUpdate(m.subarray(19), ctx));
    messages++;
  }
  return messages;
}

describe('RIB through the codec', () => {
  it('an eBGP announcement of 2,000 originated prefixes arrives in two UPDATEs with our AS prepended', () => {
    const a = new LocRib({ asn: 64512, routerId: 1 });
    const bRib = new LocRib({ asn: 65001, routerId: 2 });
    const toB = { id: 'b', address: '192.0.2.2', asn: 65001, routerId: 2, localAddress: '192.0.2.1' };
    a.addPeer(toB);
    const peerA = { id: 'a', address: '192.0.2.1', asn: 64512, routerId: 1, localAddress: '192.0.2.2' };
    bRib.addPeer(peerA, compilePolicy(effectivePolicy({ ebgp: true, rfc8212: false }, 'import'), bRib));
    const keys = Array.from({ length: 2000 }, (_, i) => parsePrefixKey(`10.${i >> 8}.${i & 255}.0/24`));
    a.originate(keys, a.interner.internAttrs(baseAttrs('')));
    const out = new AdjRibOut(a, toB, {
      exportPolicy: compilePolicy(effectivePolicy({ ebgp: true, rfc8212: false }, 'export'), a),
    });
    const n = wire(out.initialSync(), bRib, 'a', false);
    assert.equal(n, 4, 'two UPDATEs of 4,096 bytes (~1,000 /24s each) and End-of-RIB for IPv4 and IPv6');
    assert.equal(bRib.size, 2000);
    const best = bRib.best(keys[0]!)!;
    assert.deepEqual(best.attrs.asPath[0]?.asns, [64512]);
    assert.equal(best.attrs.nextHop, '192.0.2.1');
    // Withdrawals go through as well.
    a.unoriginate(keys.slice(0, 500));
    wire(out.sync(a.takeDirty()), bRib, 'a', false);
    assert.equal(bRib.size, 1500);
  });

  it('graceful restart: End-of-RIB for IPv4 sweeps only the IPv4 stale routes (RFC 4724 §4.2)', () => {
    const rib = new LocRib({ asn: 64512, routerId: 1 });
    rib.addPeer({ id: 'p', address: '10.0.0.2', asn: 64512, routerId: 2 });
    const at = rib.interner.internAttrs(baseAttrs('10.0.0.2', { localPref: 100 }));
    const k4 = [parsePrefixKey('10.1.0.0/24'), parsePrefixKey('10.2.0.0/24')];
    const k6 = parsePrefixKey('fd00:1::/64');
    rib.applyUpdate('p', { afi: 1, safi: 1, prefixes: k4 }, at);
    rib.applyUpdate('p', { afi: 2, safi: 1, prefixes: [k6] }, rib.interner.internAttrs(baseAttrs('fd00::2')));
    rib.markStale('p');
    rib.addPeer({ id: 'p', address: '10.0.0.2', asn: 64512, routerId: 2 });
    rib.applyUpdate('p', { afi: 1, safi: 1, prefixes: [k4[0]!] }, at);
    const ctx = updateContext({ fourOctetAs: true, ibgp: true });
    rib.applyMessage('p', decodeUpdate(encodeEndOfRib({ afi: 1, safi: 1 }).subarray(19), ctx));
    assert.equal(rib.best(k4[1]!), undefined, 'unrefreshed IPv4 route swept');
    assert.equal(rib.best(k6)?.stale, true, 'IPv6 still waiting for its End-of-RIB');
    assert.equal(rib.peer('p')?.restarting, true);
    rib.applyMessage('p', decodeUpdate(encodeEndOfRib({ afi: 2, safi: 1 }).subarray(19), ctx));
    assert.equal(rib.best(k6), undefined);
    assert.equal(rib.peer('p')?.restarting, false);
    assert.equal(rib.size, 1);
  });

  it('route reflection through the codec: client A → reflector → client B keeps ORIGINATOR_ID and CLUSTER_LIST, and the loop check drops it on the way back', () => {
    const rr = new LocRib({ asn: 64512, routerId: 0x0a000001 });
    const a = new LocRib({ asn: 64512, routerId: 0x0a000002 });
    const bRib = new LocRib({ asn: 64512, routerId: 0x0a000003 });
    const rrToA = {
      id: 'a',
      address: '10.0.0.2',
      asn: 64512,
      routerId: 0x0a000002,
      rrClient: true,
      localAddress: '10.0.0.1',
    };
    const rrToB = {
      id: 'b',
      address: '10.0.0.3',
      asn: 64512,
      routerId: 0x0a000003,
      rrClient: true,
      localAddress: '10.0.0.1',
    };
    const toRr = (me: string) => ({
      id: 'rr',
      address: '10.0.0.1',
      asn: 64512,
      routerId: 0x0a000001,
      localAddress: me,
    });
    rr.addPeer(rrToA);
    rr.addPeer(rrToB);
    a.addPeer(toRr('10.0.0.2'));
    bRib.addPeer(toRr('10.0.0.3'));
    const k = parsePrefixKey('10.244.1.0/26');
    a.originate([k], a.interner.internAttrs(baseAttrs('')));
    const aOut = new AdjRibOut(a, toRr('10.0.0.2'), {
      exportPolicy: compilePolicy(effectivePolicy({ ebgp: false }, 'export'), a),
    });
    wire(aOut.initialSync(), rr, 'a', true);
    const all = compilePolicy(effectivePolicy({ ebgp: false, reflecting: true }, 'export'), rr);
    const rrOutB = new AdjRibOut(rr, rrToB, { exportPolicy: all });
    const rrOutA = new AdjRibOut(rr, rrToA, { exportPolicy: all });
    rr.takeDirty();
    wire(rrOutB.initialSync(), bRib, 'rr', true);
    assert.equal(rrOutA.initialSync().announce.length, 0, 'not reflected back to its source');
    const got = bRib.best(k)!;
    assert.equal(got.attrs.nextHop, '10.0.0.2', 'next hop unchanged by reflection');
    assert.equal(got.attrs.originatorId, 0x0a000002);
    assert.deepEqual(got.attrs.clusterList, [0x0a000001]);
    assert.equal(got.routerId, 0x0a000002, 'ORIGINATOR_ID stands in for the router id (RFC 4456 §9)');
    // If the reflector's update came back to A (say through a second reflector), A drops it: its own ORIGINATOR_ID.
    wire(rrOutB.refresh(), a, 'rr', true);
    assert.equal(a.best(k)?.peer.config.id, '<local>');
    assert.equal(a.candidates(k).filter((c) => c.rejected).length, 1);
  });
});
