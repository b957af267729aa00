/**
 * One in-process Speaker on 127.0.0.1 with passive peers on 127.0.0.2–.5, for the live malformed-message
 * and flap tests. Raw peers (raw-peer.ts) dial it from those addresses. Error-level logs are captured, so
 * an exception the session layer swallowed ("sessionInternalError") still fails a test.
 */
import { pino } from 'pino';
import { SpeakerConfig } from '../../../model/speaker-config.js';
import { Speaker } from '../../../speaker/speaker.js';
import { parsePrefixKey } from '../../../speaker/wire/prefix.js';
import type { PathAttributes } from '../../../speaker/wire/types.js';
import { freePort, until } from '../support/wait.js';
import { RawPeer, type RawPeerOptions } from './raw-peer.js';

export const SPEAKER_AS = 65001;
export const SPEAKER_ID = '10.0.0.1';
/** The speaker originates this prefix and exports it to every peer. */
export const ORIGINATED = '10.244.0.0/26';

/** The peers the speaker is configured with; the raw peer picks one by source address. */
export const PEERS = {
  /** iBGP, 4-octet AS. */
  ibgp: { address: '127.0.0.2', asn: 65001, bgpId: 0x0a000002, fourOctetAs: true },
  /** eBGP, 4-octet AS, import accept-all. */
  ebgp: { address: '127.0.0.3', asn: 65002, bgpId: 0x0a000003, fourOctetAs: true },
  /** eBGP whose raw peer leaves out the 4-octet AS capability (RFC 6793 2-octet session). */
  ebgp2: { address: '127.0.0.4', asn: 65002, bgpId: 0x0a000004, fourOctetAs: false },
  /** eBGP, for random corruption. */
  fuzz: { address: '127.0.0.5', asn: 65003, bgpId: 0x0a000005, fourOctetAs: true },
} as const;
export type PeerName = keyof typeof PEERS;

export interface Harness {
  readonly speaker: Speaker;
  readonly port: number;
  /** Error-level log records (the session layer logs swallowed exceptions at error). */
  readonly errors: Record<string, unknown>[];
  options(name: PeerName, over?: Partial<RawPeerOptions>): RawPeerOptions;
  state(name: PeerName): string | undefined;
  /** Connects and handshakes, and waits until the speaker itself reports Established. */
  establish(name: PeerName, over?: Partial<RawPeerOptions>): Promise<RawPeer>;
  /** Waits until the speaker no longer has (or is building) a session with `name`. */
  settle(name: PeerName): Promise<void>;
  best(prefix: string): PathAttributes | undefined;
  stop(): Promise<void>;
}

/** `originate: false` leaves the Loc-RIB empty at rest (the flap test checks it returns to empty). */
export async function startHarness(o: { originate?: boolean } = {}): Promise<Harness> {
  const port = await freePort('127.0.0.1');
  const cfg = SpeakerConfig.parse({
    asn: SPEAKER_AS,
    routerId: SPEAKER_ID,
    listen: { address: '127.0.0.1', port },
    peers: Object.values(PEERS).map((p) => ({
      address: p.address,
      asn: p.asn,
      port,
      passive: true,
      connectRetrySec: 1,
      families: ['ipv4-unicast', 'ipv6-unicast'],
      ...(p.asn === SPEAKER_AS ? {} : { import: 'accept-all', export: 'originated' }),
    })),
    originate: o.originate === false ? [] : [ORIGINATED],
  });
  const errors: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'error' },
    {
      write(line: string) {
        try {
          errors.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          errors.push({ raw: line });
        }
      },
    },
  );
  const speaker = new Speaker(cfg, { logger: log, backoff: { baseMs: 5, maxMs: 20, minMs: 1 } });
  await speaker.start();
  const state = (name: PeerName) => speaker.peerStatus().find((p) => p.address === PEERS[name].address)?.state;
  const options = (name: PeerName, over: Partial<RawPeerOptions> = {}): RawPeerOptions => {
    const p = PEERS[name];
    return {
      host: '127.0.0.1',
      port,
      localAddress: p.address,
      asn: p.asn,
      bgpId: p.bgpId,
      fourOctetAs: p.fourOctetAs,
      families: [
        { afi: 1, safi: 1 },
        { afi: 2, safi: 1 },
      ],
      ...over,
    };
  };
  const settle = async (name: PeerName) => {
    await until(`the speaker to drop its session with ${name}`, () => {
      const s = state(name);
      return s === 'Idle' || s === 'Active';
    });
  };
  return {
    speaker,
    port,
    errors,
    options,
    state,
    settle,
    async establish(name, over = {}) {
      await settle(name);
      const raw = await RawPeer.established(options(name, over));
      await until(`the speaker to reach Established with ${name}`, () => state(name) === 'Established');
      return raw;
    },
    best(prefix) {
      return speaker.rib.best(parsePrefixKey(prefix))?.pre;
    },
    stop: () => speaker.stop(),
  };
}
