/**
 * Interop of `caracal speaker` with real BIRD 2, FRR bgpd 8 and GoBGP 3, on lab/: one lab, one LAN segment,
 * the speaker (a child process, `caracal speaker --config FILE`) in node `spk` and twelve routers around it, all
 * converging at once so the file stays short in wall time:
 *
 *   router   daemon  session  AS     families (one session each)  TCP-MD5
 *   birde    BIRD    eBGP     65001  IPv4, IPv6                    right key; the speaker is passive
 *   birdi    BIRD    iBGP     64512  IPv4, IPv6                    none
 *   frre     FRR     eBGP     65002  IPv4, IPv6                    right key; the speaker is passive
 *   gobgpi   GoBGP   iBGP     64512  IPv4, IPv6                    right key
 *   frri     FRR     iBGP     64512  IPv4, IPv6                    none
 *   gobgpe   GoBGP   eBGP     65003  IPv4, IPv6                    none
 *   birdbad  BIRD    eBGP     65005  IPv4                          different keys (must never come up)
 *   frrbad   FRR     eBGP     65008  IPv4                          different keys (must never come up)
 *   gobgpbad GoBGP   eBGP     65009  IPv4                          key on the speaker only (must never come up)
 *   frrmp    FRR     eBGP     65010  IPv4 + IPv6 on one IPv4 session   none
 *   birdmp   BIRD    eBGP     65011  IPv4 + IPv6 on one IPv4 session   none
 *   gobgpmp  GoBGP   eBGP     4200000013  IPv4 + IPv6 on one IPv4 session (4-octet AS)   none
 *
 * For every good session: Established on both sides (status API and the daemon); the speaker's prefixes in
 * the daemon's RIB with the right AS path and next hop; the daemon's prefixes in the speaker's Loc-RIB with
 * the right AS path and next hop; a withdrawal each way (daemon: birdc configure / vtysh `no network` /
 * `gobgp global rib del`; speaker: a new `originate` and SIGHUP) while the session stays up.
 *
 * Also: the speaker sends each daemon only its own prefixes (export: originated); each TCP-MD5 mismatch stays
 * down on both sides; an eBGP IPv4 session shut down by each daemon (Cease) takes its routes out of the
 * Loc-RIB without disturbing the IPv6 session, and comes back with routes both ways; frrmp, birdmp and gobgpmp carry
 * both families on one IPv4 session, with IPv6 next hops on the link; a ROUTE-REFRESH from BIRD and FRR is
 * answered without disturbing the session; SIGTERM sends Cease, so every daemon drops our routes at once.
 *
 * Needs root and the three daemons (skips with a message otherwise). The lab and the speaker are removed in
 * `after` whatever happens; the lab also kills anything left in its namespaces.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Lab } from '../../lab/lab.js';
import { run } from '../../lab/netns.js';
import { parseTopology } from '../../lab/topology.js';
import type { BgpPeerStatus, BgpRouteStatus } from '../../model/bgp-status.js';
import type { SpeakerConfigInput } from '../../model/speaker-config.js';
import {
  birdTracePackets,
  type PathInfo,
  requestRefresh,
  routerLog,
  routerPath,
  setSessionEnabled,
  updatesReceived,
  withdrawFromRouter,
} from './support/daemons.js';
import { SpeakerProcess } from './support/speaker-process.js';
import { waitFor as wait } from './support/wait.js';

const have = (bin: string) =>
  bin.startsWith('/') ? existsSync(bin) : spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const missing = ['ip', 'curl', 'bird', 'birdc', '/usr/lib/frr/bgpd', 'vtysh', 'gobgpd', 'gobgp'].filter(
  (b) => !have(b),
);
const skip =
  process.getuid?.() !== 0
    ? 'needs root (network namespaces, port 179, TCP-MD5)'
    : missing.length
      ? `missing ${missing.join(', ')}`
      : false;

const SPEAKER_AS = 64512;
const KEY = 'caracal-md5';
const SPK = { v4: '10.9.0.10', v6: 'fd00:9::10' };

interface RouterCase {
  readonly name: string;
  readonly daemon: 'bird' | 'frr' | 'gobgp';
  readonly asn: number;
  readonly v4: string;
  readonly v6: string;
  readonly password?: string;
  /** The speaker waits for the daemon to connect (so the key must be on our dual-stack listener). */
  readonly passive?: boolean;
  /** Originated by the router: [kept, withdrawn later] per family. */
  readonly nets: { readonly v4: readonly [string, string]; readonly v6: readonly [string, string] };
}

const n = (i: number) => ({
  v4: [`10.${i}.0.0/24`, `10.${i}.1.0/24`] as const,
  v6: [`fd00:${i}::/64`, `fd00:${i}:1::/64`] as const,
});
const GOOD: readonly RouterCase[] = [
  {
    name: 'birde',
    daemon: 'bird',
    asn: 65001,
    v4: '10.9.0.1',
    v6: 'fd00:9::1',
    password: KEY,
    passive: true,
    nets: n(1),
  },
  { name: 'birdi', daemon: 'bird', asn: SPEAKER_AS, v4: '10.9.0.2', v6: 'fd00:9::2', nets: n(2) },
  {
    name: 'frre',
    daemon: 'frr',
    asn: 65002,
    v4: '10.9.0.3',
    v6: 'fd00:9::3',
    password: KEY,
    passive: true,
    nets: n(3),
  },
  { name: 'gobgpi', daemon: 'gobgp', asn: SPEAKER_AS, v4: '10.9.0.4', v6: 'fd00:9::4', password: KEY, nets: n(4) },
  { name: 'frri', daemon: 'frr', asn: SPEAKER_AS, v4: '10.9.0.6', v6: 'fd00:9::6', nets: n(6) },
  { name: 'gobgpe', daemon: 'gobgp', asn: 65003, v4: '10.9.0.7', v6: 'fd00:9::7', nets: n(7) },
];

/** TCP-MD5 mismatches: IPv4 eBGP sessions that must never come up. */
interface BadCase {
  readonly name: string;
  readonly daemon: 'bird' | 'frr' | 'gobgp';
  readonly asn: number;
  readonly v4: string;
  readonly daemonKey?: string;
  readonly speakerKey?: string;
  readonly net: string;
  readonly what: string;
}
const BAD: readonly BadCase[] = [
  {
    name: 'birdbad',
    daemon: 'bird',
    asn: 65005,
    v4: '10.9.0.5',
    daemonKey: 'not-the-key',
    speakerKey: KEY,
    net: '10.5.0.0/24',
    what: 'different keys',
  },
  {
    name: 'frrbad',
    daemon: 'frr',
    asn: 65008,
    v4: '10.9.0.8',
    daemonKey: 'not-the-key',
    speakerKey: KEY,
    net: '10.8.0.0/24',
    what: 'different keys',
  },
  {
    name: 'gobgpbad',
    daemon: 'gobgp',
    asn: 65009,
    v4: '10.9.0.9',
    speakerKey: KEY,
    net: '10.109.0.0/24',
    what: 'a key on the speaker only',
  },
];
const isBad = (address: string) => BAD.some((b) => b.v4 === address);

/**
 * IPv4 and IPv6 unicast over one IPv4 session (RFC 4760). FRR: `neighbor X activate` under ipv6 unicast; it
 * sends its IPv6 routes with an IPv4-mapped next hop. BIRD: an `ipv6` channel on an IPv4 neighbor; it sends
 * its IPv6 link address and drops an IPv4-mapped next hop, so the speaker must send its own link address.
 * GoBGP: a second afi-safi on the neighbor, and a 4-octet AS (RFC 6793) while at it.
 */
interface MpCase {
  readonly name: string;
  readonly daemon: 'bird' | 'frr' | 'gobgp';
  readonly asn: number;
  readonly v4: string;
  readonly v6: string;
  readonly nets: { readonly v4: string; readonly v6: string };
  /** The next hop the speaker should see on the daemon's IPv6 route. */
  readonly v6NextHop: string;
}
const MP: readonly MpCase[] = [
  {
    name: 'frrmp',
    daemon: 'frr',
    asn: 65010,
    v4: '10.9.0.11',
    v6: 'fd00:9::11',
    nets: { v4: '10.10.0.0/24', v6: 'fd00:110::/64' },
    v6NextHop: '::ffff:10.9.0.11',
  },
  {
    name: 'birdmp',
    daemon: 'bird',
    asn: 65011,
    v4: '10.9.0.12',
    v6: 'fd00:9::12',
    nets: { v4: '10.12.0.0/24', v6: 'fd00:112::/64' },
    v6NextHop: 'fd00:9::12',
  },
  {
    name: 'gobgpmp',
    daemon: 'gobgp',
    asn: 4_200_000_013,
    v4: '10.9.0.13',
    v6: 'fd00:9::13',
    nets: { v4: '10.13.0.0/24', v6: 'fd00:113::/64' },
    v6NextHop: '::ffff:10.9.0.13',
  },
];
const BIRD_MP_PROTOCOL = 'mp';

function mpRouter(m: MpCase) {
  if (m.daemon === 'gobgp')
    return {
      name: m.name,
      daemon: m.daemon,
      asNumber: m.asn,
      routerId: m.v4,
      peers: [{ address: SPK.v4, asNumber: SPEAKER_AS }],
      networks: [m.nets.v4, m.nets.v6],
      // appended after the only [[neighbors]] table, so TOML adds this afi-safi to that neighbor
      extraConfig: [
        '  [[neighbors.afi-safis]]',
        '    [neighbors.afi-safis.config]',
        '      afi-safi-name = "ipv6-unicast"',
      ].join('\n'),
    };
  if (m.daemon === 'frr')
    return {
      name: m.name,
      daemon: m.daemon,
      asNumber: m.asn,
      routerId: m.v4,
      peers: [{ address: SPK.v4, asNumber: SPEAKER_AS }],
      networks: [m.nets.v4, m.nets.v6],
      extraConfig: [
        `router bgp ${m.asn}`,
        ' address-family ipv6 unicast',
        `  neighbor ${SPK.v4} activate`,
        ' exit-address-family',
      ].join('\n'),
    };
  // The lab's BIRD peers get one channel of their address family: this session is written by hand.
  const exp = 'export where source ~ [RTS_STATIC, RTS_BGP];';
  return {
    name: m.name,
    daemon: m.daemon,
    asNumber: m.asn,
    routerId: m.v4,
    extraConfig: [
      `protocol static mp4 { ipv4; route ${m.nets.v4} blackhole; }`,
      `protocol static mp6 { ipv6; route ${m.nets.v6} blackhole; }`,
      `protocol bgp ${BIRD_MP_PROTOCOL} {`,
      `  local as ${m.asn};`,
      `  neighbor ${SPK.v4} as ${SPEAKER_AS};`,
      '  hold time 9; connect delay time 1; connect retry time 2; error wait time 1, 10;',
      `  ipv4 { import all; ${exp} };`,
      `  ipv6 { import all; ${exp} };`,
      '}',
    ].join('\n'),
  };
}

/** The speaker's prefixes: [kept, withdrawn by the SIGHUP test] per family. */
const OWN = { v4: ['10.244.1.0/26', '10.244.1.64/26'], v6: ['fd00:10:244:1::/122', 'fd00:10:244:1::40/122'] } as const;

const ibgp = (r: RouterCase) => r.asn === SPEAKER_AS;
const label = (r: RouterCase) =>
  `${r.daemon} ${r.name} (${ibgp(r) ? 'iBGP' : 'eBGP'}${r.password ? ', MD5' : ''}${r.passive ? ', passive' : ''})`;

function topology() {
  const members: Record<string, string[]> = { spk: [`${SPK.v4}/24`, `${SPK.v6}/64`] };
  for (const r of GOOD) members[r.name] = [`${r.v4}/24`, `${r.v6}/64`];
  for (const b of BAD) members[b.name] = [`${b.v4}/24`];
  for (const m of MP) members[m.name] = [`${m.v4}/24`, `${m.v6}/64`];
  return parseTopology({
    name: 'interop',
    nodes: [{ name: 'spk', asNumber: SPEAKER_AS }],
    routers: [
      ...GOOD.map((r) => ({
        name: r.name,
        daemon: r.daemon,
        asNumber: r.asn,
        routerId: r.v4,
        peers: [
          { address: SPK.v4, asNumber: SPEAKER_AS, ...(r.password ? { password: r.password } : {}) },
          { address: SPK.v6, asNumber: SPEAKER_AS, ...(r.password ? { password: r.password } : {}) },
        ],
        networks: [...r.nets.v4, ...r.nets.v6],
      })),
      ...BAD.map((b) => ({
        name: b.name,
        daemon: b.daemon,
        asNumber: b.asn,
        routerId: b.v4,
        peers: [{ address: SPK.v4, asNumber: SPEAKER_AS, ...(b.daemonKey ? { password: b.daemonKey } : {}) }],
        networks: [b.net],
      })),
      ...MP.map(mpRouter),
    ],
    links: [{ lan: 'fabric', members }],
  });
}

function speakerConfig(originate: readonly string[]): SpeakerConfigInput {
  const peer = (r: RouterCase, address: string, family: 'ipv4-unicast' | 'ipv6-unicast') => ({
    address,
    asn: r.asn,
    families: [family],
    connectRetrySec: 1,
    holdTimeSec: 9,
    ...(r.password ? { password: r.password } : {}),
    ...(r.passive ? { passive: true } : {}),
    // RFC 8212: eBGP exchanges nothing without explicit policies
    ...(ibgp(r) ? {} : { import: 'accept-all', export: 'originated' }),
  });
  return {
    asn: SPEAKER_AS,
    routerId: SPK.v4,
    listen: { address: '::', port: 179 },
    status: { address: '127.0.0.1', port: 9179 },
    peers: [
      ...GOOD.flatMap((r) => [peer(r, r.v4, 'ipv4-unicast'), peer(r, r.v6, 'ipv6-unicast')]),
      ...BAD.map((b) => ({
        address: b.v4,
        asn: b.asn,
        ...(b.speakerKey ? { password: b.speakerKey } : {}),
        connectRetrySec: 1,
        import: 'accept-all',
        export: 'originated',
      })),
      ...MP.map((m) => ({
        address: m.v4,
        asn: m.asn,
        families: ['ipv4-unicast' as const, 'ipv6-unicast' as const],
        connectRetrySec: 1,
        holdTimeSec: 9,
        import: 'accept-all',
        export: 'originated',
      })),
    ],
    originate: [...originate],
  };
}

describe('caracal speaker interop with BIRD 2, FRR 8 and GoBGP 3', { skip }, () => {
  let lab: Lab | undefined;
  let speaker: SpeakerProcess | undefined;
  let startedAt = 0;
  let dir = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'caracal-interop-'));
    lab = await Lab.up(topology(), {
      name: `interop-${process.pid.toString(36)}${randomBytes(2).toString('hex')}`,
      stateRoot: join(dir, 'labs'),
    });
    startedAt = Date.now();
    speaker = new SpeakerProcess(lab, 'spk', dir, speakerConfig([...OWN.v4, ...OWN.v6]));
  });

  after(async () => {
    try {
      await speaker?.stop();
    } finally {
      await lab?.down();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  const L = () => lab!;
  const S = () => speaker!;
  /** Bounded wait; on timeout the message says what was awaited, what was last seen, and the speaker's log. */
  const waitFor = <T>(
    what: string,
    fn: () => Promise<T | undefined | false>,
    timeoutMs = 20_000,
    seen?: () => string,
  ) => wait(what, fn, { timeoutMs, seen: () => `${seen?.() ?? ''}\nspeaker log:\n${S().logTail()}` });

  const peerState = async (address: string): Promise<BgpPeerStatus | undefined> =>
    (await S().peers()).find((p) => p.address === address);
  const speakerRoute = async (prefix: string): Promise<BgpRouteStatus | undefined> =>
    (await S().routes()).find((r) => r.prefix === prefix);

  it('every session with the right key (or none) is Established on both sides', async () => {
    const want = GOOD.flatMap((r) => [r.v4, r.v6]);
    let last: BgpPeerStatus[] = [];
    await waitFor(
      `${want.length} speaker sessions Established`,
      async () => {
        last = await S().peers();
        return want.every((a) => last.find((p) => p.address === a)?.state === 'Established');
      },
      25_000,
      () => JSON.stringify(last.map((p) => [p.address, p.state, p.lastError])),
    );
    for (const r of GOOD) {
      let seen = '';
      await waitFor(
        `${label(r)}: both sessions Established on the daemon`,
        async () => {
          const s = await L().sessions(r.name);
          seen = JSON.stringify(s);
          return s.length === 2 && s.every((x) => x.state === 'Established');
        },
        10_000,
        () => seen,
      );
    }
    const peers = await S().peers();
    for (const r of GOOD)
      for (const [a, fam] of [
        [r.v4, 'ipv4-unicast'],
        [r.v6, 'ipv6-unicast'],
      ] as const) {
        const p = peers.find((x) => x.address === a)!;
        assert.equal(p.type, ibgp(r) ? 'ibgp' : 'ebgp', `${label(r)} ${a}: session type`);
        assert.deepEqual(p.capabilities.families, [fam], `${label(r)} ${a}: negotiated families`);
        assert.equal(p.passive, r.passive === true, `${label(r)} ${a}: passive`);
      }
  });

  for (const r of GOOD) {
    for (const f of ['v4', 'v6'] as const) {
      it(`${label(r)} IPv${f[1]}: the speaker's prefixes reach the daemon with AS path and next hop`, async () => {
        const want: PathInfo = {
          prefix: OWN[f][0],
          asPath: ibgp(r) ? [] : [SPEAKER_AS],
          nextHop: SPK[f],
        };
        let seen: unknown;
        for (const prefix of OWN[f]) {
          const got = await waitFor(
            `${prefix} in ${r.name}'s RIB`,
            async () => (seen = await routerPath(L(), r.name, prefix)),
            15_000,
            () => JSON.stringify(seen),
          );
          assert.deepEqual(got, { ...want, prefix }, `${label(r)}: ${prefix} as the daemon sees it`);
        }
      });

      it(`${label(r)} IPv${f[1]}: the daemon's prefixes reach the speaker's Loc-RIB`, async () => {
        let seen: unknown;
        for (const prefix of r.nets[f]) {
          const got = await waitFor(
            `${prefix} from ${r.name} in the speaker's Loc-RIB`,
            async () => (seen = await speakerRoute(prefix)),
            15_000,
            () => JSON.stringify(seen),
          );
          assert.equal(got.nextHop, r[f], `${label(r)}: next hop of ${prefix}`);
          assert.equal(got.asPath, ibgp(r) ? '' : String(r.asn), `${label(r)}: AS path of ${prefix}`);
          assert.equal(got.peer, r[f], `${label(r)}: peer of ${prefix}`);
          if (ibgp(r)) assert.equal(got.localPref, 100, `${label(r)}: LOCAL_PREF of ${prefix}`);
        }
        const p = (await peerState(r[f]))!;
        // FRR sends our own prefixes back over eBGP (no sender-side loop detection by default): they count as
        // received, and the AS-path loop check (RFC 4271 §9.1.2) keeps them out of the Loc-RIB
        assert.equal(p.prefixesAccepted, r.nets[f].length, `${label(r)} ${r[f]}: accepted counter`);
        assert.ok(p.prefixesReceived >= p.prefixesAccepted, `${label(r)} ${r[f]}: received counter`);
        // only the session's own family: the other family's prefixes are never advertised on it
        assert.equal(p.prefixesAdvertised, OWN[f].length, `${label(r)} ${r[f]}: advertised counter`);
      });
    }
  }

  for (const m of MP) {
    it(`${m.daemon} ${m.name} (eBGP): IPv4 and IPv6 over one IPv4 session, both ways, IPv6 next hops on the link`, async () => {
      let seen = '';
      await waitFor(
        `the MP session with ${m.name} Established`,
        async () => {
          const p = await peerState(m.v4);
          seen = JSON.stringify(p);
          return p?.state === 'Established';
        },
        15_000,
        () => seen,
      );
      assert.deepEqual((await peerState(m.v4))!.capabilities.families, ['ipv4-unicast', 'ipv6-unicast']);
      if (m.daemon === 'bird') {
        const r = await run([
          'birdc',
          '-s',
          L().state.routers.find((x) => x.name === m.name)!.ctlSocket!,
          'show',
          'protocols',
          BIRD_MP_PROTOCOL,
        ]);
        assert.match(r.stdout, /Established/, `BIRD's side of the session: ${r.stdout}`);
      } else {
        assert.equal((await L().sessions(m.name))[0]?.state, 'Established', `${m.daemon}'s side of the session`);
      }
      for (const [f, prefix] of [
        ['v4', OWN.v4[0]],
        ['v6', OWN.v6[0]],
      ] as const) {
        const got = await waitFor(
          `${prefix} in ${m.name}'s RIB`,
          async () => {
            const x = await routerPath(L(), m.name, prefix);
            seen = JSON.stringify(x);
            return x;
          },
          15_000,
          () => seen,
        );
        // IPv6: our global address on the link, never ::ffff:10.9.0.10 (BIRD would drop the route)
        assert.deepEqual(got, { prefix, asPath: [SPEAKER_AS], nextHop: SPK[f] }, `${m.name}: ${prefix}`);
      }
      for (const [prefix, nextHop] of [
        [m.nets.v4, m.v4],
        [m.nets.v6, m.v6NextHop],
      ] as const) {
        const got = await waitFor(
          `${prefix} from ${m.name} in the speaker's Loc-RIB`,
          async () => {
            const x = await speakerRoute(prefix);
            seen = JSON.stringify(x);
            return x;
          },
          15_000,
          () => seen,
        );
        assert.equal(got.nextHop, nextHop, `${m.name}: next hop of ${prefix}`);
        assert.equal(got.asPath, String(m.asn), `${m.name}: AS path of ${prefix}`);
      }
    });
  }

  for (const b of BAD) {
    it(`TCP-MD5 with ${b.what}: ${b.daemon} ${b.name} and the speaker never reach Established`, async () => {
      // Absence needs time: the good sessions came up in about a second; give the bad ones at least 6.
      const wait = startedAt + 6000 - Date.now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      const p = await peerState(b.v4);
      assert.ok(p, 'the peer is in /bgp/peers');
      assert.notEqual(p.state, 'Established', `speaker side: ${JSON.stringify(p)}`);
      assert.equal(p.prefixesReceived, 0);
      const s = await L().sessions(b.name);
      assert.notEqual(s[0]?.state, 'Established', `${b.daemon} side: ${JSON.stringify(s)}`);
      assert.equal(await speakerRoute(b.net), undefined, 'no route from that peer');
      assert.equal(await routerPath(L(), b.name, OWN.v4[0]), undefined, "the daemon has none of the speaker's");
    });
  }

  it("every daemon gets the speaker's own prefixes only (export: originated), never another peer's", async () => {
    const own = new Set<string>([...OWN.v4, ...OWN.v6]);
    for (const r of GOOD) {
      const fromSpeaker = (await L().routes(r.name)).filter((x) => x.peer === SPK.v4 || x.peer === SPK.v6);
      const foreign = fromSpeaker.filter((x) => !own.has(x.prefix)).map((x) => x.prefix);
      assert.deepEqual(foreign, [], `${label(r)}: prefixes learned from the speaker that it does not originate`);
      assert.equal(new Set(fromSpeaker.map((x) => x.prefix)).size, own.size, `${label(r)}: the speaker's prefixes`);
    }
  });

  it('a ROUTE-REFRESH from BIRD and FRR (soft reset in) is answered, framed by BoRR/EoRR; session and routes stay', async () => {
    const cases = GOOD.filter((r) => r.daemon !== 'gobgp').flatMap((r) => [
      { r, peer: SPK.v4, speakerSide: r.v4 },
      { r, peer: SPK.v6, speakerSide: r.v6 },
    ]);
    const birds = cases.filter((c) => c.r.daemon === 'bird');
    const protocols = await Promise.all(birds.map((c) => birdTracePackets(L(), c.r.name, c.peer)));
    const before = await Promise.all(cases.map((c) => updatesReceived(L(), c.r.name, c.peer)));
    const uptimeBefore = new Map((await S().peers()).map((p) => [p.address, p.uptime]));
    await Promise.all(cases.map((c) => requestRefresh(L(), c.r.name, c.peer)));
    let seen = '';
    await waitFor(
      'every daemon to receive UPDATEs again after its refresh request',
      async () => {
        const now = await Promise.all(cases.map((c) => updatesReceived(L(), c.r.name, c.peer)));
        seen = JSON.stringify(cases.map((c, i) => [c.r.name, c.peer, before[i], now[i]]));
        return now.every((n, i) => n > before[i]!);
      },
      10_000,
      () => seen,
    );
    for (const c of cases) {
      const p = (await peerState(c.speakerSide))!;
      assert.equal(p.state, 'Established', `${label(c.r)} ${c.speakerSide}: still up`);
      assert.ok(p.uptime >= uptimeBefore.get(c.speakerSide)!, `${label(c.r)} ${c.speakerSide}: not restarted`);
      const f = c.peer === SPK.v4 ? 'v4' : 'v6';
      assert.ok(await routerPath(L(), c.r.name, OWN[f][0]), `${label(c.r)}: ${OWN[f][0]} still there`);
    }
    // Enhanced route refresh is negotiated with BIRD: the answer comes between BoRR and EoRR (RFC 7313 §4)
    await waitFor(
      "BIRD to log our BoRR and EoRR around the refresh's UPDATEs",
      async () => {
        seen = '';
        for (const [i, c] of birds.entries()) {
          const log = routerLog(L(), c.r.name);
          const p = protocols[i]!;
          const at = log.lastIndexOf(`${p}: Sending ROUTE-REFRESH`);
          const borr = log.indexOf(`${p}: Got BEGIN-OF-RR`, at);
          const eorr = log.indexOf(`${p}: Got END-OF-RR`, at);
          if (at < 0 || borr < 0 || eorr < borr)
            seen += `${c.r.name} ${p}: ${log.slice(Math.max(0, at)).slice(0, 600)}\n`;
        }
        return seen === '';
      },
      5_000,
      () => seen,
    );
  });

  it('a withdrawal by each daemon leaves the speaker Loc-RIB, the session and the other prefix stay', async () => {
    const withdrawn = GOOD.flatMap((r) => [r.nets.v4[1], r.nets.v6[1]].map((prefix) => ({ r, prefix })));
    // in parallel across routers, one at a time per router (birdc configure must not see a half-written file)
    await Promise.all(
      GOOD.map(async (r) => {
        for (const prefix of [r.nets.v4[1], r.nets.v6[1]]) await withdrawFromRouter(L(), r.name, prefix);
      }),
    );
    let left: string[] = [];
    await waitFor(
      'the withdrawn prefixes to leave the speaker Loc-RIB',
      async () => {
        const routes = new Set((await S().routes()).map((x) => x.prefix));
        left = withdrawn.filter((w) => routes.has(w.prefix)).map((w) => `${w.prefix} (${w.r.name})`);
        return left.length === 0;
      },
      15_000,
      () => `still there: ${left.join(', ')}`,
    );
    const routes = new Set((await S().routes()).map((x) => x.prefix));
    for (const r of GOOD)
      for (const prefix of [r.nets.v4[0], r.nets.v6[0]]) assert.ok(routes.has(prefix), `${label(r)}: ${prefix} kept`);
    for (const p of await S().peers())
      if (!isBad(p.address)) assert.equal(p.state, 'Established', `${p.address} stayed up`);
  });

  it('a withdrawal by the speaker (new originate + SIGHUP) leaves every daemon RIB, the rest stays', async () => {
    S().reload(speakerConfig([OWN.v4[0], OWN.v6[0]]));
    const checks = GOOD.flatMap((r) => [OWN.v4[1], OWN.v6[1]].map((prefix) => ({ r, prefix })));
    let left: string[] = [];
    await waitFor(
      'the speaker-withdrawn prefixes to leave every daemon RIB',
      async () => {
        const still = await Promise.all(
          checks.map(async (c) => ((await routerPath(L(), c.r.name, c.prefix)) ? c : undefined)),
        );
        left = still.filter((c) => c !== undefined).map((c) => `${c.prefix} in ${c.r.name}`);
        return left.length === 0;
      },
      15_000,
      () => `still there: ${left.join(', ')}`,
    );
    for (const r of GOOD)
      for (const prefix of [OWN.v4[0], OWN.v6[0]])
        assert.ok(await routerPath(L(), r.name, prefix), `${label(r)}: ${prefix} still in the daemon's RIB`);
    for (const r of GOOD) {
      const s = await L().sessions(r.name);
      assert.ok(
        s.every((x) => x.state === 'Established'),
        `${label(r)}: sessions stayed up: ${JSON.stringify(s)}`,
      );
    }
  });

  it('a session shut down by the daemon (Cease) takes its routes out of the Loc-RIB; back up, it resyncs', async () => {
    // the eBGP IPv4 sessions of all three; their IPv6 sessions must not notice
    const cases = GOOD.filter((r) => !ibgp(r));
    await Promise.all(cases.map((r) => setSessionEnabled(L(), r.name, SPK.v4, false)));
    let seen = '';
    await waitFor(
      'the shut-down sessions to leave Established and their routes to leave the Loc-RIB',
      async () => {
        const peers = await S().peers();
        const routes = new Set((await S().routes()).map((x) => x.prefix));
        const bad = cases.filter(
          (r) => peers.find((p) => p.address === r.v4)?.state === 'Established' || routes.has(r.nets.v4[0]),
        );
        seen = JSON.stringify(peers.map((p) => [p.address, p.state, p.lastError]));
        return bad.length === 0;
      },
      10_000,
      () => seen,
    );
    const routes = new Set((await S().routes()).map((x) => x.prefix));
    for (const r of cases) {
      assert.ok(routes.has(r.nets.v6[0]), `${label(r)}: the IPv6 session's ${r.nets.v6[0]} stays`);
      assert.equal((await peerState(r.v6))?.state, 'Established', `${label(r)}: the IPv6 session stays up`);
    }
    await Promise.all(cases.map((r) => setSessionEnabled(L(), r.name, SPK.v4, true)));
    await waitFor(
      'the sessions to come back with their routes, both ways',
      async () => {
        const peers = await S().peers();
        const routes = new Set((await S().routes()).map((x) => x.prefix));
        seen = JSON.stringify(peers.map((p) => [p.address, p.state, p.lastError]));
        for (const r of cases) {
          if (peers.find((p) => p.address === r.v4)?.state !== 'Established' || !routes.has(r.nets.v4[0])) return false;
          // the initial sync after the reconnect carries what the SIGHUP above left: the kept prefix only
          if (!(await routerPath(L(), r.name, OWN.v4[0])) || (await routerPath(L(), r.name, OWN.v4[1]))) return false;
        }
        return true;
      },
      20_000,
      () => seen,
    );
  });

  it('SIGTERM: the speaker sends Cease and exits 0; every daemon drops its routes at once', async () => {
    const all = [
      ...GOOD.map((r) => ({ name: r.name, prefix: OWN.v4[0] })),
      ...MP.map((m) => ({ name: m.name, prefix: OWN.v6[0] })),
    ];
    const t0 = Date.now();
    await S().stop(5000);
    assert.equal(S().exited, 'exited with code 0', `the speaker's exit: its log:\n${S().logTail()}`);
    let left: string[] = [];
    // Without a Cease, BIRD and FRR (graceful-restart helpers by default) would keep our routes as stale for our
    // restart time (120 s), even after their hold timer (9 s); a Cease flushes them at once.
    await waitFor(
      "the speaker's routes to leave every daemon",
      async () => {
        const still = await Promise.all(
          all.map(async (c) => ((await routerPath(L(), c.name, c.prefix)) ? c.name : undefined)),
        );
        left = still.filter((x) => x !== undefined);
        return left.length === 0;
      },
      8_000,
      () => `still there after ${Date.now() - t0} ms: ${left.join(', ')}`,
    );
    for (const r of GOOD) {
      const s = await L().sessions(r.name);
      assert.ok(
        s.every((x) => x.state !== 'Established'),
        `${label(r)}: sessions down: ${JSON.stringify(s)}`,
      );
    }
  });
});
