/**
 * Two Caracal speakers over loopback (127.0.0.1 and 127.0.0.2 are both local on Linux): sessions, route
 * exchange both ways, withdrawal, RFC 8212 on eBGP, and the status API — the whole speaker, in one process,
 * with real sockets. Interop with BIRD, FRR and GoBGP lives in test/speaker/interop.test.ts on lab/.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SpeakerConfig, type SpeakerConfigInput } from '../../model/speaker-config.js';
import { Speaker } from '../../speaker/speaker.js';
import { startStatusApi } from '../../speaker/status-api.js';
import { freePort, until as poll } from './support/wait.js';

/** Polls every 20 ms, for up to 10 s. */
const until = <T>(what: string, fn: () => T | undefined | false): Promise<T> => poll(what, fn, 10_000, 20);

const FAST = { backoff: { baseMs: 50, maxMs: 200 } };

async function pair(
  a: Partial<SpeakerConfigInput>,
  b: Partial<SpeakerConfigInput>,
  peerA: object = {},
  peerB: object = {},
) {
  const port = await freePort('127.0.0.1');
  const cfgA = SpeakerConfig.parse({
    asn: 65001,
    routerId: '10.0.0.1',
    listen: { address: '127.0.0.1', port },
    peers: [{ address: '127.0.0.2', asn: b.asn ?? 65001, port, connectRetrySec: 1, ...peerA }],
    ...a,
  });
  const cfgB = SpeakerConfig.parse({
    asn: 65001,
    routerId: '10.0.0.2',
    listen: { address: '127.0.0.2', port },
    peers: [
      { address: '127.0.0.1', asn: a.asn ?? 65001, port, localAddress: '127.0.0.2', connectRetrySec: 1, ...peerB },
    ],
    ...b,
  });
  const sa = new Speaker(cfgA, FAST);
  const sb = new Speaker(cfgB, FAST);
  await sa.start();
  await sb.start();
  return { sa, sb, stop: async () => void (await Promise.all([sa.stop(), sb.stop()])) };
}

const established = (s: Speaker) => s.peerStatus()[0]?.state === 'Established';

describe('speaker over loopback', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  it('iBGP: originated prefixes reach the other side, with status counters, and a withdrawal propagates', async () => {
    const { sa, sb, stop } = await pair(
      { originate: ['10.244.1.0/26', 'fd00:10:244:1::/122'] },
      { originate: ['10.244.2.0/26'] },
      { families: ['ipv4-unicast', 'ipv6-unicast'] },
      { families: ['ipv4-unicast', 'ipv6-unicast'] },
    );
    cleanups.push(stop);
    await until('both sessions Established', () => established(sa) && established(sb));
    await until("B learns both of A's prefixes", () => sb.routes({}).count === 3);
    const r = sb.routes({ prefix: '10.244.1.0/26' });
    assert.equal(r.count, 1);
    assert.equal(r.routes[0]!.nextHop, '127.0.0.1'); // iBGP: an originated route gets the session address
    assert.equal(r.routes[0]!.peer, '127.0.0.1');
    assert.equal(r.routes[0]!.localPref, 100);
    await until("A learns B's prefix", () => sa.routes({ prefix: '10.244.2.0/26' }).count === 1);
    const pa = sa.peerStatus()[0]!;
    assert.equal(pa.type, 'ibgp');
    assert.equal(pa.prefixesAdvertised, 2);
    await until("A counts B's prefix", () => sa.peerStatus()[0]!.prefixesAccepted === 1);
    assert.deepEqual((pa.capabilities as { families: string[] }).families, ['ipv4-unicast', 'ipv6-unicast']);

    sa.setOriginated(['10.244.1.0/26']);
    await until('B sees the IPv6 prefix withdrawn', () => sb.routes({}).count === 2);
    assert.equal(sb.routes({ prefix: 'fd00:10:244:1::/122' }).count, 0);
  });

  it('eBGP without policies: sessions come up but no routes are accepted or sent (RFC 8212)', async () => {
    const { sa, sb, stop } = await pair(
      { asn: 65001, originate: ['10.244.1.0/26'] },
      { asn: 65002, originate: ['10.244.2.0/26'] },
    );
    cleanups.push(stop);
    await until('both sessions Established', () => established(sa) && established(sb));
    await new Promise((r) => setTimeout(r, 300)); // give an UPDATE the chance to (wrongly) arrive
    assert.equal(sa.peerStatus()[0]!.prefixesAdvertised, 0);
    assert.equal(sb.routes({ prefix: '10.244.1.0/26' }).count, 0);
    assert.equal(sa.routes({ prefix: '10.244.2.0/26' }).count, 0);
  });

  it('eBGP with explicit policies: our AS is prepended and next hop is self', async () => {
    const { sb, stop } = await pair(
      { asn: 65001, originate: ['10.244.1.0/26'] },
      { asn: 65002 },
      { import: 'accept-all', export: 'originated' },
      { import: 'accept-all', export: 'accept-all' },
    );
    cleanups.push(stop);
    await until("B learns A's prefix over eBGP", () => sb.routes({ prefix: '10.244.1.0/26' }).count === 1);
    const route = sb.routes({ prefix: '10.244.1.0/26' }).routes[0]!;
    assert.equal(route.asPath, '65001');
    assert.equal(route.nextHop, '127.0.0.1');
    assert.equal(sb.peerStatus()[0]!.type, 'ebgp');
  });

  it('the status API serves /bgp/peers and /bgp/routes, and rejects a bad query with 400', async () => {
    const { sa, sb, stop } = await pair({ originate: ['10.244.1.0/26', '10.244.1.64/26'] }, {});
    cleanups.push(stop);
    const api = await startStatusApi(sb, '127.0.0.1', 0);
    cleanups.push(() => new Promise((r) => api.server.close(() => r())));
    await until('B learns two prefixes', () => sb.routes({}).count === 2);
    const base = `http://127.0.0.1:${api.port}`;
    const peers = (await (await fetch(`${base}/bgp/peers`)).json()) as {
      address: string;
      state: string;
      prefixesReceived: number;
    }[];
    assert.equal(peers[0]!.address, '127.0.0.1');
    assert.equal(peers[0]!.state, 'Established');
    assert.equal(peers[0]!.prefixesReceived, 2);
    const page1 = (await (await fetch(`${base}/bgp/routes?limit=1`)).json()) as {
      count: number;
      routes: { prefix: string }[];
      next?: string;
    };
    assert.equal(page1.count, 2);
    assert.deepEqual(
      page1.routes.map((r) => r.prefix),
      ['10.244.1.0/26'],
    );
    const page2 = (await (
      await fetch(`${base}/bgp/routes?limit=1&after=${encodeURIComponent(page1.next!)}`)
    ).json()) as { routes: { prefix: string }[]; next?: string };
    assert.deepEqual(
      page2.routes.map((r) => r.prefix),
      ['10.244.1.64/26'],
    );
    assert.equal(page2.next, undefined);
    const bad = await fetch(`${base}/bgp/routes?prefix=10.0.0.0/99`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /prefix must be a CIDR/);
    assert.equal((await fetch(`${base}/bgp/routes?limit=-1`)).status, 400);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    void sa;
  });
});
