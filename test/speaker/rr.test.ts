/**
 * Route reflection (RFC 4456) against real daemons, on lab/:
 *  (a) Caracal (`caracal speaker` in a node namespace) reflects between two clients, BIRD and FRR, and two
 *      non-clients (BIRD and FRR): clients learn each other's routes with ORIGINATOR_ID = the originating
 *      client's router id and CLUSTER_LIST = [Caracal's router id] (the default cluster id); non-clients
 *      get client routes but never each other's.
 *  (b) Caracal as a client of a BIRD reflector, next to an FRR client: each learns the other's route with
 *      the reflector's attributes, and Caracal shows them in /bgp/routes.
 *  (c) In-process, with a hand-made iBGP peer: a route carrying our own router id as ORIGINATOR_ID, or our
 *      cluster id in CLUSTER_LIST, is dropped (RFC 4456 §8); others are kept with their attributes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Lab } from '../../lab/lab.js';
import { SpeakerConfig, type SpeakerConfigInput } from '../../model/speaker-config.js';
import { buildOpen } from '../../speaker/session/config.js';
import { Speaker } from '../../speaker/speaker.js';
import { encodeKeepalive } from '../../speaker/wire/messages.js';
import { encodeOpen } from '../../speaker/wire/open.js';
import { parsePrefixKey } from '../../speaker/wire/prefix.js';
import { Origin, type PathAttributes } from '../../speaker/wire/types.js';
import { encodeEndOfRib, encodeUpdates } from '../../speaker/wire/update.js';
import { labSkipReason, routeOn } from './support/daemons.js';
import { SpeakerProcess } from './support/speaker-process.js';
import { freePort, waitFor } from './support/wait.js';

const skip = labSkipReason();
const AS = 64512;
const tag = (process.pid % 100_000).toString(36);

async function withLab(
  t: { after(fn: () => Promise<void>): void },
  topology: object,
): Promise<{ lab: Lab; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'caracal-rr-'));
  const lab = await Lab.up(topology, { stateRoot: join(dir, 'labs') });
  t.after(async () => {
    await lab.down();
    rmSync(dir, { recursive: true, force: true });
  });
  return { lab, dir };
}

const speakerPeer = (address: string, extra: object = {}) => ({
  address,
  asn: AS,
  holdTimeSec: 9,
  connectRetrySec: 1,
  ...extra,
});

async function established(s: SpeakerProcess, n: number): Promise<void> {
  let last: string[] = [];
  await waitFor(
    `${n} Established sessions on Caracal`,
    async () => {
      const ps = await s.peers();
      last = ps.map((p) => `${p.address} ${p.state}`);
      return ps.filter((p) => p.state === 'Established').length === n;
    },
    { timeoutMs: 20_000 },
  ).catch((e) => {
    throw new Error(`${(e as Error).message}: ${last.join(', ')}\nCaracal log:\n${s.logTail()}`);
  });
}

describe('route reflection (RFC 4456)', { skip }, () => {
  it('Caracal reflects between BIRD and FRR clients, with ORIGINATOR_ID / CLUSTER_LIST, and not between non-clients', async (t) => {
    const lan = (i: number) => `10.9.0.${i}`;
    const router = (name: string, daemon: string, i: number, net: string) => ({
      name,
      daemon,
      asNumber: AS,
      routerId: `10.0.0.${i}`,
      peers: [{ address: lan(1), asNumber: AS }],
      networks: [net],
    });
    const { lab, dir } = await withLab(t, {
      name: `rra-${tag}`,
      nodes: [{ name: 'rr' }],
      routers: [
        router('bird1', 'bird', 11, '10.201.0.0/24'), // client
        router('frr1', 'frr', 12, '10.202.0.0/24'), // client
        router('bird2', 'bird', 13, '10.203.0.0/24'), // non-client
        router('frr2', 'frr', 14, '10.204.0.0/24'), // non-client
      ],
      links: [
        {
          lan: 'fabric',
          members: {
            rr: [`${lan(1)}/24`],
            bird1: [`${lan(11)}/24`],
            frr1: [`${lan(12)}/24`],
            bird2: [`${lan(13)}/24`],
            frr2: [`${lan(14)}/24`],
          },
        },
      ],
    });
    const config: SpeakerConfigInput = {
      asn: AS,
      routerId: '10.0.0.1', // not an interface address: the cluster id must be the router id
      listen: { address: lan(1), port: 179 },
      peers: [
        speakerPeer(lan(11), { routeReflectorClient: true }),
        speakerPeer(lan(12), { routeReflectorClient: true }),
        speakerPeer(lan(13)),
        speakerPeer(lan(14)),
      ],
    };
    const caracal = new SpeakerProcess(lab, 'rr', dir, config);
    t.after(() => caracal.kill());
    await established(caracal, 4);
    await waitFor('Caracal to learn all four prefixes', async () => (await caracal.routes()).length === 4);

    // Client to client, both ways.
    const onBird1 = await waitFor('bird1 (client) to learn frr1 (client)’s prefix', () =>
      routeOn(lab, 'bird1', '10.202.0.0/24'),
    );
    assert.equal(onBird1.originatorId, '10.0.0.12', 'ORIGINATOR_ID is the originating client’s router id');
    assert.deepEqual(onBird1.clusterList, ['10.0.0.1'], 'CLUSTER_LIST is [Caracal’s router id]');
    assert.equal(onBird1.nextHop, lan(12), 'a reflected route keeps its next hop (RFC 4456 §10)');
    const onFrr1 = await waitFor('frr1 (client) to learn bird1 (client)’s prefix', () =>
      routeOn(lab, 'frr1', '10.201.0.0/24'),
    );
    assert.equal(onFrr1.originatorId, '10.0.0.11');
    assert.deepEqual(onFrr1.clusterList, ['10.0.0.1']);

    // Non-client to clients.
    const nc = await waitFor('bird1 (client) to learn bird2 (non-client)’s prefix', () =>
      routeOn(lab, 'bird1', '10.203.0.0/24'),
    );
    assert.equal(nc.originatorId, '10.0.0.13');
    assert.deepEqual(nc.clusterList, ['10.0.0.1']);
    await waitFor('frr1 (client) to learn frr2 (non-client)’s prefix', () => routeOn(lab, 'frr1', '10.204.0.0/24'));

    // Clients to non-clients (RFC 4456 §6), with the default export policy.
    const toNc = await waitFor('bird2 (non-client) to learn frr1 (client)’s prefix', () =>
      routeOn(lab, 'bird2', '10.202.0.0/24'),
    );
    assert.equal(toNc.originatorId, '10.0.0.12');
    await waitFor('frr2 (non-client) to learn bird1 (client)’s prefix', () => routeOn(lab, 'frr2', '10.201.0.0/24'));

    // Non-client to non-client: never. Everything else has arrived; give a wrong UPDATE time to show up.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await routeOn(lab, 'bird2', '10.204.0.0/24'), undefined, 'bird2 must not get frr2’s route');
    assert.equal(await routeOn(lab, 'frr2', '10.203.0.0/24'), undefined, 'frr2 must not get bird2’s route');
    const adv = Object.fromEntries((await caracal.peers()).map((p) => [p.address, p.prefixesAdvertised]));
    assert.deepEqual(adv, { [lan(11)]: 3, [lan(12)]: 3, [lan(13)]: 2, [lan(14)]: 2 });
  });

  it('Caracal as a client of a BIRD reflector learns the other client’s route with the reflector’s attributes', async (t) => {
    const bgp = (name: string, address: string) =>
      [
        `protocol bgp ${name} {`,
        `  local as ${AS};`,
        `  neighbor ${address} as ${AS};`,
        '  direct;',
        '  rr client;',
        '  hold time 9; keepalive time 3;',
        '  connect delay time 1; connect retry time 2; error wait time 1, 10;',
        '  ipv4 { import all; export all; };',
        '}',
      ].join('\n');
    const { lab, dir } = await withLab(t, {
      name: `rrb-${tag}`,
      nodes: [{ name: 'client' }],
      routers: [
        {
          name: 'reflector',
          daemon: 'bird',
          asNumber: AS,
          routerId: '10.0.0.50',
          extraConfig: `${bgp('caracal', '10.9.0.1')}\n${bgp('frr', '10.9.0.12')}\n`,
        },
        {
          name: 'frr',
          daemon: 'frr',
          asNumber: AS,
          routerId: '10.0.0.12',
          peers: [{ address: '10.9.0.50', asNumber: AS }],
          networks: ['10.212.0.0/24'],
        },
      ],
      links: [
        { lan: 'fabric', members: { client: ['10.9.0.1/24'], reflector: ['10.9.0.50/24'], frr: ['10.9.0.12/24'] } },
      ],
    });
    const caracal = new SpeakerProcess(lab, 'client', dir, {
      asn: AS,
      routerId: '10.0.0.1',
      listen: { address: '10.9.0.1', port: 179 },
      peers: [speakerPeer('10.9.0.50')],
      originate: ['10.211.0.0/24'],
    });
    t.after(() => caracal.kill());
    await established(caracal, 1);
    const r = await waitFor('Caracal to learn the FRR client’s prefix through BIRD', () =>
      caracal.route('10.212.0.0/24'),
    );
    assert.equal(r.peer, '10.9.0.50');
    assert.equal(r.originatorId, '10.0.0.12', '/bgp/routes shows ORIGINATOR_ID');
    assert.deepEqual(r.clusterList, ['10.0.0.50'], '/bgp/routes shows CLUSTER_LIST (BIRD’s router id)');
    const onFrr = await waitFor('FRR to learn Caracal’s prefix through BIRD', () =>
      routeOn(lab, 'frr', '10.211.0.0/24'),
    );
    assert.equal(onFrr.originatorId, '10.0.0.1', 'ORIGINATOR_ID is Caracal’s router id');
    assert.deepEqual(onFrr.clusterList, ['10.0.0.50']);
    assert.equal(
      await caracal.route('10.211.0.0/24').then((x) => x?.peer),
      '<local>',
      'our own route is not replaced by anything coming back',
    );
  });

  it('drops a route carrying our ORIGINATOR_ID or our cluster id in CLUSTER_LIST (in-process, hand-made peer)', async (t) => {
    const port = await freePort('127.0.0.1');
    const config = SpeakerConfig.parse({
      asn: AS,
      routerId: '10.0.0.1',
      clusterId: '10.0.0.99',
      listen: { address: '127.0.0.1', port },
      peers: [{ address: '127.0.0.3', asn: AS, passive: true, holdTimeSec: 9 }],
    });
    const speaker = new Speaker(config);
    await speaker.start();
    let sock: Socket | undefined;
    t.after(async () => {
      sock?.destroy();
      await speaker.stop();
    });
    sock = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.3' });
    const s = sock;
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    s.on('data', () => {}); // OPEN, KEEPALIVEs: read and ignore
    s.on('error', () => {});
    const families = [{ afi: 1, safi: 1 }];
    s.write(
      encodeOpen(
        buildOpen({
          localAs: AS,
          peerAs: AS,
          bgpId: 0x0a000003,
          holdTimeSec: 9,
          connectRetrySec: 1,
          passive: false,
          families,
        }),
      ),
    );
    s.write(encodeKeepalive());
    await waitFor('the session with the hand-made peer', async () => speaker.peerStatus()[0]?.state === 'Established');
    const attrs = (a: Partial<PathAttributes>): PathAttributes => ({
      origin: Origin.Igp,
      asPath: [],
      asPathLength: 0,
      neighborAs: 0,
      nextHop: '127.0.0.3',
      localPref: 100,
      atomicAggregate: false,
      communities: [],
      extendedCommunities: [],
      largeCommunities: [],
      clusterList: [],
      unknown: [],
      ...a,
    });
    const send = (prefix: string, a: Partial<PathAttributes>) =>
      s.write(
        Buffer.concat(
          encodeUpdates(attrs(a), { afi: 1, safi: 1, prefixes: [parsePrefixKey(prefix)] }, { fourOctetAs: true }),
        ),
      );
    send('10.221.0.0/24', { originatorId: 0x0a000001 }); // our router id: a loop
    send('10.222.0.0/24', { originatorId: 0x0a000007, clusterList: [0x0a000005, 0x0a000063] }); // our cluster id
    send('10.223.0.0/24', { originatorId: 0x0a000007, clusterList: [0x0a000005] }); // fine
    s.write(encodeEndOfRib({ afi: 1, safi: 1 }));
    const ok = await waitFor(
      'the loop-free route in the Loc-RIB',
      async () => speaker.routes({ prefix: '10.223.0.0/24' }).routes[0],
    );
    assert.equal(ok.originatorId, '10.0.0.7');
    assert.deepEqual(ok.clusterList, ['10.0.0.5']);
    await waitFor('all three prefixes received', async () => speaker.peerStatus()[0]?.prefixesReceived === 3);
    assert.equal(speaker.routes({ prefix: '10.221.0.0/24' }).count, 0, 'ORIGINATOR_ID = our router id: dropped');
    assert.equal(speaker.routes({ prefix: '10.222.0.0/24' }).count, 0, 'our cluster id in CLUSTER_LIST: dropped');
    assert.equal(speaker.peerStatus()[0]?.prefixesAccepted, 1);
  });
});
