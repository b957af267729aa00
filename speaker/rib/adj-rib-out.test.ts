import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACCEPT_ALL, compilePolicy, ORIGINATED, parseCommunity } from '../policy/policy.js';
import type { PathAttributes, PrefixKey } from '../wire/types.js';
import { AdjRibOut } from './adj-rib-out.js';
import { baseAttrs } from './attr-intern.js';
import { LocRib } from './loc-rib.js';

const v4 = (text: string): number => {
  const [a, l] = text.split('/');
  return a!.split('.').reduce((x, o) => x * 256 + Number(o), 0) * 64 + Number(l);
};
const b = (...prefixes: PrefixKey[]) => ({ afi: 1 as const, safi: 1 as const, prefixes });

/** We are AS 64512, router id 1, a route reflector; rr-client-a/b are clients, nonclient is not, ebgp is AS 65001. */
function setup() {
  const rib = new LocRib({ asn: 64512, routerId: 1, clusterId: 0x0a0a0a0a });
  const peers = {
    clientA: { id: 'client-a', address: '10.0.0.2', asn: 64512, routerId: 2, rrClient: true, localAddress: '10.0.0.1' },
    clientB: { id: 'client-b', address: '10.0.0.3', asn: 64512, routerId: 3, rrClient: true, localAddress: '10.0.0.1' },
    nonClient: { id: 'nonclient', address: '10.0.0.4', asn: 64512, routerId: 4, localAddress: '10.0.0.1' },
    ebgp: { id: 'ebgp', address: '192.0.2.1', asn: 65001, routerId: 9, localAddress: '192.0.2.2' },
  };
  for (const p of Object.values(peers)) rib.addPeer(p);
  const all = compilePolicy(ACCEPT_ALL, rib);
  const out = {
    clientA: new AdjRibOut(rib, peers.clientA, { exportPolicy: all }),
    clientB: new AdjRibOut(rib, peers.clientB, { exportPolicy: all }),
    nonClient: new AdjRibOut(rib, peers.nonClient, { exportPolicy: all }),
    ebgp: new AdjRibOut(rib, peers.ebgp, { exportPolicy: all }),
  };
  const at = (nh: string, extra: Parameters<typeof baseAttrs>[1] = {}): PathAttributes =>
    rib.interner.internAttrs(baseAttrs(nh, extra));
  const syncAll = () => {
    const d = rib.takeDirty();
    return {
      clientA: out.clientA.sync(d),
      clientB: out.clientB.sync(d),
      nonClient: out.nonClient.sync(d),
      ebgp: out.ebgp.sync(d),
    };
  };
  return { rib, peers, out, at, syncAll };
}

describe('AdjRibOut', () => {
  it('groups announcements by attribute set so one UPDATE carries many prefixes', () => {
    const { rib, at, out } = setup();
    const x = at('', { med: 1 });
    const y = at('', { med: 2 });
    rib.originate([v4('10.1.0.0/24'), v4('10.2.0.0/24'), v4('10.3.0.0/24')], x);
    rib.originate([v4('10.4.0.0/24')], y);
    const u = out.clientA.initialSync();
    assert.equal(u.announce.length, 2);
    assert.equal(u.announce[0]!.batch.prefixes.length + u.announce[1]!.batch.prefixes.length, 4);
    assert.equal(u.announce[0]!.attrs.nextHop, '10.0.0.1', 'originated routes get our next hop');
    assert.equal(u.announce[0]!.attrs.localPref, 100, 'iBGP always carries LOCAL_PREF');
    assert.deepEqual(u.endOfRib, [
      { afi: 1, safi: 1 },
      { afi: 2, safi: 1 },
    ]);
  });
  it('sends only NLRI of the families the session negotiated (RFC 4760 §7)', () => {
    const { rib, at, peers } = setup();
    const v6key = `${Buffer.from('fd000000000000000000000000000000', 'hex').toString('latin1')}${String.fromCharCode(64)}`;
    rib.originate([v4('10.1.0.0/24'), v6key], at(''));
    const v4only = new AdjRibOut(rib, peers.clientA, {
      exportPolicy: compilePolicy(ACCEPT_ALL, rib),
      families: [{ afi: 1, safi: 1 }],
    });
    const u = v4only.initialSync();
    assert.deepEqual(
      u.announce.flatMap((a) => a.batch.prefixes),
      [v4('10.1.0.0/24')],
    );
    assert.deepEqual(u.endOfRib, [{ afi: 1, safi: 1 }]);
    assert.equal(v4only.size, 1);
  });

  it('sends only changes, and withdraws what is gone', () => {
    const { rib, at, out, syncAll } = setup();
    rib.originate([v4('10.1.0.0/24'), v4('10.2.0.0/24')], at(''));
    out.clientA.initialSync();
    rib.takeDirty();
    assert.deepEqual(syncAll().clientA, { withdraw: [], announce: [], endOfRib: [] });
    rib.unoriginate([v4('10.1.0.0/24')]);
    rib.originate([v4('10.2.0.0/24')], at('', { med: 5 }));
    const u = syncAll().clientA;
    assert.deepEqual(u.withdraw[0]?.prefixes, [v4('10.1.0.0/24')]);
    assert.equal(u.announce[0]?.attrs.med, 5);
    assert.equal(out.clientA.size, 1);
  });
  it('reflects a client route to clients and non-clients, never back to the sender (RFC 4456 §6)', () => {
    const { rib, at, syncAll } = setup();
    rib.applyUpdate('client-a', b(v4('10.5.0.0/24')), at('10.0.0.2', { localPref: 100 }));
    const u = syncAll();
    assert.equal(u.clientA.announce.length, 0);
    assert.equal(u.clientB.announce.length, 1);
    assert.equal(u.nonClient.announce.length, 1);
    const r = u.clientB.announce[0]!.attrs;
    assert.equal(r.originatorId, 2);
    assert.deepEqual(r.clusterList, [0x0a0a0a0a]);
    assert.equal(r.nextHop, '10.0.0.2', 'reflection keeps the next hop (RFC 4456 §10)');
  });
  it('reflects a non-client route to clients only', () => {
    const { rib, at, syncAll } = setup();
    rib.applyUpdate('nonclient', b(v4('10.6.0.0/24')), at('10.0.0.4', { localPref: 100 }));
    const u = syncAll();
    assert.equal(u.clientA.announce.length, 1);
    assert.equal(u.nonClient.announce.length, 0);
  });
  it('does not reflect a route to the peer named by its ORIGINATOR_ID', () => {
    const { rib, at, syncAll } = setup();
    rib.applyUpdate('client-a', b(v4('10.6.0.0/24')), at('10.0.0.9', { localPref: 100, originatorId: 3 }));
    const u = syncAll();
    assert.equal(u.clientB.announce.length, 0);
    assert.equal(u.nonClient.announce[0]?.attrs.originatorId, 3, 'an existing ORIGINATOR_ID is kept');
  });
  it('prepares routes for eBGP: prepend, next hop self, no LOCAL_PREF, no foreign MED, no RR attributes', () => {
    const { rib, at, syncAll } = setup();
    rib.applyUpdate(
      'client-a',
      b(v4('10.7.0.0/24')),
      at('10.0.0.2', {
        localPref: 300,
        med: 40,
        asPath: [{ type: 2, asns: [65010] }],
        originatorId: 7,
        clusterList: [5],
      }),
    );
    const r = syncAll().ebgp.announce[0]!.attrs;
    assert.deepEqual(r.asPath, [{ type: 2, asns: [64512, 65010] }]);
    assert.equal(r.nextHop, '192.0.2.2');
    assert.equal(r.localPref, undefined);
    assert.equal(r.med, undefined);
    assert.equal(r.originatorId, undefined);
    assert.deepEqual(r.clusterList, []);
  });
  it('does not send NO_EXPORT routes to eBGP nor NO_ADVERTISE routes to anyone (RFC 1997)', () => {
    const { rib, at, syncAll } = setup();
    rib.originate([v4('10.8.0.0/24')], at('', { communities: [parseCommunity('no-export')] }));
    rib.originate([v4('10.9.0.0/24')], at('', { communities: [parseCommunity('no-advertise')] }));
    rib.originate([v4('10.10.0.0/24')], at('', { communities: [parseCommunity('no-export-subconfed')] }));
    const u = syncAll();
    assert.equal(u.ebgp.announce.length, 0);
    assert.deepEqual(
      u.clientA.announce.flatMap((x) => x.batch.prefixes).sort(),
      [v4('10.8.0.0/24'), v4('10.10.0.0/24')].sort(),
    );
  });
  it('does not send iBGP routes to iBGP peers without reflection', () => {
    const rib = new LocRib({ asn: 64512, routerId: 1 });
    const a = { id: 'a', address: '10.0.0.2', asn: 64512, routerId: 2 };
    const c = { id: 'c', address: '10.0.0.3', asn: 64512, routerId: 3 };
    rib.addPeer(a);
    rib.addPeer(c);
    rib.applyUpdate('a', b(v4('10.1.0.0/24')), rib.interner.internAttrs(baseAttrs('10.0.0.2', { localPref: 100 })));
    const o = new AdjRibOut(rib, c, { exportPolicy: compilePolicy(ACCEPT_ALL, rib) });
    assert.equal(o.initialSync().announce.length, 0);
  });
  it('applies the export policy (`originated` is the Caracal default) and re-evaluates on change', () => {
    const { rib, at, peers } = setup();
    rib.originate([v4('10.1.0.0/24')], at(''));
    rib.applyUpdate('client-a', b(v4('10.2.0.0/24')), at('10.0.0.2', { localPref: 100 }));
    const o = new AdjRibOut(rib, peers.ebgp, { exportPolicy: compilePolicy(ORIGINATED, rib) });
    assert.deepEqual(
      o.initialSync().announce.flatMap((x) => x.batch.prefixes),
      [v4('10.1.0.0/24')],
    );
    const u = o.setExportPolicy(compilePolicy({ name: 'none', rules: [], default: 'reject' }, rib));
    assert.deepEqual(u.withdraw[0]?.prefixes, [v4('10.1.0.0/24')]);
  });
  it('`refresh()` re-sends everything advertised (RFC 2918)', () => {
    const { rib, at, out } = setup();
    rib.originate([v4('10.1.0.0/24'), v4('10.2.0.0/24')], at(''));
    out.ebgp.initialSync();
    const r = out.ebgp.refresh();
    assert.equal(r.announce[0]?.batch.prefixes.length, 2);
    assert.equal(r.endOfRib.length, 0);
  });
  it('uses our IPv6 address as next hop for IPv6 prefixes on a dual-stack eBGP session', () => {
    const rib = new LocRib({ asn: 64512, routerId: 1 });
    const peer = {
      id: 'e',
      address: '192.0.2.1',
      asn: 65001,
      routerId: 9,
      localAddress: '192.0.2.2',
      localAddressV6: 'fd00::2',
    };
    rib.addPeer(peer);
    const k6 = `${Buffer.from([0xfd, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).toString('latin1')}${String.fromCharCode(64)}`;
    rib.originate([k6, v4('10.1.0.0/24')], rib.interner.internAttrs(baseAttrs('')));
    const o = new AdjRibOut(rib, peer, { exportPolicy: compilePolicy(ACCEPT_ALL, rib) });
    const u = o.initialSync();
    const byFamily = new Map(u.announce.map((a) => [a.batch.afi, a.attrs.nextHop]));
    assert.equal(byFamily.get(1), '192.0.2.2');
    assert.equal(byFamily.get(2), 'fd00::2');
  });
  it('sends nothing for an originated route when the session has no local address to use as next hop', () => {
    const rib = new LocRib({ asn: 64512, routerId: 1 });
    const peer = { id: 'e', address: '192.0.2.1', asn: 65001, routerId: 9 };
    rib.addPeer(peer);
    rib.originate([v4('10.1.0.0/24')], rib.interner.internAttrs(baseAttrs('')));
    const o = new AdjRibOut(rib, peer, { exportPolicy: compilePolicy(ACCEPT_ALL, rib) });
    assert.equal(o.initialSync().announce.length, 0);
  });
});
