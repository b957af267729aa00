/**
 * Malformed messages against a live session: an in-process Speaker on 127.0.0.1 and a raw BGP peer
 * (malformed-support/raw-peer.ts) that completes the handshake with our encoder and then sends crafted bytes.
 *
 * 1. The table (malformed-support/cases.ts): every RFC 4271 §6 header/OPEN/FSM error and every RFC 7606 case
 *    the codec supports, each with the reaction owed: a NOTIFICATION (code/subcode, connection closed),
 *    treat-as-withdraw (session stays; the probe prefix the peer announced with a good UPDATE is gone after the
 *    malformed UPDATE re-announces it), or attribute-discard (session stays; route there without the attribute).
 *    "Session stays" is proven by a good sentinel UPDATE, written in the same chunk after the malformed one,
 *    reaching the Loc-RIB; after a reset that sentinel must not be applied. A bystander route of the same peer
 *    must survive treat-as-withdraw and attribute-discard. Rows that prescribe NOTIFICATION Data check it.
 * 2. Random corruption of valid UPDATEs / OPENs / ROUTE-REFRESHes (bit flips, cuts, length edits, insertions)
 *    over live eBGP 4-octet, eBGP 2-octet and iBGP sessions: the process never throws (uncaughtException, and
 *    the session layer's swallowed "internal error" logs); every case ends in a NOTIFICATION whose code fits the
 *    message (a header error, or the type's own code) with a defined subcode, and a closed connection, or in the
 *    session staying up; a fresh session still exchanges routes both ways afterwards. A case that breaks any of
 *    that is saved under test/fixtures/bgp/malformed/<sha256-prefix>.bin; the corpus is replayed every run.
 *
 * CARACAL_FUZZ_SEED fixes the seed (printed on failure); CARACAL_FUZZ_CASES changes the count (default 500);
 * CARACAL_MALFORMED_TABLE=FILE writes "case | expected | observed" lines and the fuzz reaction counts.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../../common/random.js';
import { encodeKeepalive } from '../../speaker/wire/messages.js';
import { encodeOpen } from '../../speaker/wire/open.js';
import { MessageType } from '../../speaker/wire/types.js';
import {
  CASES,
  type Case,
  goodUpdate,
  kit,
  mpReachV6,
  mpUnreachV6,
  PROBE,
  SENTINEL,
} from './malformed-support/cases.js';
import {
  asSeq,
  attr,
  hex,
  ipv4,
  message,
  OPT,
  OPT_T,
  u32,
  update,
  v4prefix,
  v6prefix,
  WK,
} from './malformed-support/craft.js';
import { type Harness, ORIGINATED, type PeerName, startHarness } from './malformed-support/harness.js';
import { openMessage, RawPeer } from './malformed-support/raw-peer.js';
import { until } from './support/wait.js';

const CORPUS = fileURLToPath(new URL('../fixtures/bgp/malformed/', import.meta.url));

let h: Harness;
const uncaught: unknown[] = [];
const onUncaught = (e: unknown) => uncaught.push(e);
/** case → expected → observed, printed at the end. */
const table: string[] = [];

before(async () => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  h = await startHarness();
});
after(async () => {
  if (process.env.CARACAL_MALFORMED_TABLE) writeFileSync(process.env.CARACAL_MALFORMED_TABLE, `${table.join('\n')}\n`);
  if (fuzzRaw) await fuzzRaw.close('reset');
  await h.stop();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

/** Fails on anything the speaker process threw or swallowed since the last call. */
function assertNoCrash(context: string): void {
  const internal = h.errors.filter((e) => e.event === 'sessionInternalError' || e.event === 'listenerError');
  const problems = [...uncaught.map((e) => `uncaught: ${String(e)}`), ...internal.map((e) => JSON.stringify(e))];
  uncaught.length = 0;
  h.errors.length = 0;
  assert.deepEqual(problems, [], `speaker threw during ${context}`);
}

function describeExpect(c: Case): string {
  const e = c.expect;
  switch (e.kind) {
    case 'notification':
      return `NOTIFICATION ${e.code}/${e.subcode ?? '*'}${e.data === undefined ? '' : ` data ${e.data}`}`;
    case 'treat-as-withdraw':
      return 'treat-as-withdraw';
    case 'attribute-discard':
    case 'accepted':
      return `${e.kind} (${e.what})`;
    default:
      return e.kind;
  }
}

/** Opens a connection in the row's phase; returns the raw peer ready for the malformed bytes. */
async function reach(peer: PeerName, phase: Case['phase'], opts: Case['opts'] = {}): Promise<RawPeer> {
  await h.settle(peer);
  if (phase === 'established' || phase === undefined) return h.establish(peer, opts);
  const raw = await RawPeer.connect(h.options(peer, opts));
  if (phase === 'openconfirm') {
    raw.send(encodeOpen(openMessage(raw.options)));
    await raw.until('the speaker KEEPALIVE (OpenConfirm)', () => raw.count(MessageType.Keepalive) > 0);
  } else {
    await raw.until('the speaker OPEN (OpenSent)', () => raw.count(MessageType.Open) > 0);
  }
  return raw;
}

/** Announced before the malformed UPDATE and never mentioned by it: must survive anything but a reset. */
const BYSTANDER = '10.97.0.0/24';

/** Runs one row; returns what happened, in the table's words. */
async function runCase(c: Case): Promise<string> {
  const peer = c.peer ?? 'ebgp';
  const phase = c.phase ?? 'established';
  const raw = await reach(peer, phase, c.opts);
  const k = kit(peer, raw.options);
  const probePrefix = c.expect.kind === 'treat-as-withdraw' && c.expect.prefix ? c.expect.prefix : PROBE;
  try {
    if (phase === 'established') {
      raw.send(goodUpdate(k, BYSTANDER));
      raw.send(goodUpdate(k, probePrefix));
      await until(`the probe ${probePrefix} in the Loc-RIB`, () => h.best(probePrefix) !== undefined || raw.closed);
    }
    const bytes = c.bytes(k);
    const keepalivesBefore = raw.count(MessageType.Keepalive);
    // Established: the sentinel rides in the same write, so a reset must stop the speaker mid-chunk.
    raw.send(phase === 'established' ? Buffer.concat([bytes, goodUpdate(k, SENTINEL)]) : bytes);
    if (phase !== 'established') {
      // A NOTIFICATION, a close, or the KEEPALIVE that accepts our OPEN (generous: suites run in parallel).
      await until(
        'a reaction to the first message',
        () => raw.notification || raw.closed || raw.count(MessageType.Keepalive) > keepalivesBefore,
        3000,
      ).catch(() => {});
      const out = await raw.outcome(0);
      if (out.kind === 'up' && raw.count(MessageType.Keepalive) > keepalivesBefore) {
        raw.send(encodeKeepalive());
        await until('Established', () => h.state(peer) === 'Established');
        return 'established';
      }
      return out.kind === 'notification' ? notificationWords(c, raw) : out.kind;
    }
    await until(
      'the sentinel, a NOTIFICATION or a close',
      () => h.best(SENTINEL) !== undefined || raw.notification || raw.closed,
      3000,
    );
    const out = await raw.outcome(0);
    if (out.kind === 'notification') {
      await until('the probe to go with the session', () => h.best(probePrefix) === undefined);
      await h.settle(peer);
      // Bytes after the bad message in the same chunk are never acted on (RFC 4271 §6: close after NOTIFICATION).
      if (h.best(SENTINEL) !== undefined) return `${notificationWords(c, raw)}, but the UPDATE after it was applied`;
      return notificationWords(c, raw);
    }
    if (out.kind === 'closed') return 'closed';
    if (h.state(peer) !== 'Established') return `session ${h.state(peer)} without NOTIFICATION`;
    // RFC 7606 §2: treat-as-withdraw and attribute-discard touch only the UPDATE's own routes.
    if (h.best(BYSTANDER) === undefined) return `the bystander ${BYSTANDER} was withdrawn too`;
    const a = h.best(probePrefix);
    if (a === undefined) return 'treat-as-withdraw';
    if (c.expect.kind === 'up') return c.expect.kind;
    if (c.expect.kind === 'attribute-discard' || c.expect.kind === 'accepted') {
      const problem = c.expect.check(a);
      return problem === undefined ? c.expect.kind : `route kept, but ${problem}`;
    }
    return 'route kept';
  } finally {
    await raw.close('fin');
    await h.settle(peer);
  }
}

/** "NOTIFICATION c/s", plus " data <hex>" when the row prescribes the Data field, plus " (not closed)". */
function notificationWords(c: Case, raw: RawPeer): string {
  const n = raw.notification;
  if (!n) return 'no NOTIFICATION';
  const data = c.expect.kind === 'notification' && c.expect.data !== undefined ? ` data ${hex(n.data)}` : '';
  return `NOTIFICATION ${n.code}/${n.subcode}${data}${raw.closed ? '' : ' (not closed)'}`;
}

function expectedWords(c: Case): string {
  const e = c.expect;
  if (e.kind === 'notification') return describeExpect(c);
  // attribute-discard / accepted: the row's check decides (runCase names the failed check otherwise).
  return e.kind;
}

describe('malformed messages on a live session: the table', () => {
  for (const c of CASES) {
    const title = `${c.ref}: ${c.name} → ${describeExpect(c)}`;
    it(title, c.bug ? { todo: `bug: ${c.bug}` } : {}, async () => {
      const observed = await runCase(c);
      table.push(`${c.ref} | ${c.name} | ${describeExpect(c)} | ${observed}`);
      assertNoCrash(c.name);
      const ok =
        c.expect.kind === 'notification' && c.expect.subcode === undefined
          ? observed.startsWith(`NOTIFICATION ${c.expect.code}/`) && !observed.includes('not closed')
          : observed === expectedWords(c);
      const k = kit(c.peer ?? 'ebgp', h.options(c.peer ?? 'ebgp'));
      assert.ok(ok, `expected ${describeExpect(c)}, observed ${observed}; bytes ${hex(c.bytes(k))}`);
    });
  }
});

describe('malformed messages on a live session: timers', () => {
  it('4271 §6.5: a peer that stops talking gets NOTIFICATION 4/0 when the hold time (3 s) runs out, KEEPALIVEs before', async () => {
    const raw = await h.establish('ebgp', { holdTimeSec: 3 });
    try {
      const t0 = Date.now();
      await raw.until('NOTIFICATION 4/0', () => raw.notification !== undefined, 8000);
      const elapsed = Date.now() - t0;
      const out = await raw.outcome(0);
      assert.deepEqual(out, { kind: 'notification', code: 4, subcode: 0, closed: true });
      // Not before the hold time (protocol behaviour); how late is left to the wait above (no timing bound).
      assert.ok(elapsed > 2000, `hold timer fired after ${elapsed} ms`);
      // Keepalive interval is hold / 3 = 1 s: at least two after the handshake's.
      assert.ok(raw.count(MessageType.Keepalive) >= 3, `${raw.count(MessageType.Keepalive)} KEEPALIVEs`);
      assertNoCrash('hold timer');
    } finally {
      await raw.close('fin');
      await h.settle('ebgp');
    }
  });
});

// -----------------------------------------------------------------------------------------------------------
// Random corruption

const FUZZ = 'fuzz' as const;

/** The sessions corruption is sent over: eBGP 4-octet, eBGP 2-octet (no RFC 6793 capability), iBGP. */
interface Flavour {
  readonly peer: 'fuzz' | 'ibgp';
  readonly four: boolean;
}
const FLAVOURS: readonly Flavour[] = [
  { peer: FUZZ, four: true },
  { peer: FUZZ, four: false },
  { peer: 'ibgp', four: true },
];
/** The live session's flavour, and how the next session's is chosen. */
let flavour: Flavour = FLAVOURS[0]!;
let nextFlavour: () => Flavour = () => FLAVOURS[0]!;

/** Valid messages to corrupt (sent Established, except OPEN which is sent as the first message). */
function templates(): Buffer[] {
  const k = kit(FUZZ, h.options(FUZZ));
  const path = attr(WK, 2, asSeq([65003, 65010, 4_200_000_000]));
  const full = update({
    withdrawn: v4prefix('10.97.1.0/24'),
    attrs: Buffer.concat([
      k.origin,
      path,
      k.nextHopAttr,
      attr(OPT, 4, u32(10)),
      attr(WK, 6, []),
      attr(OPT_T, 7, [...u32(65003), ...ipv4('10.0.0.5')]),
      attr(OPT_T, 8, [...u32(0xfde80001), ...u32(0xffffff01)]),
      attr(OPT_T, 16, [0, 2, 0xfd, 0xe8, 0, 0, 0, 1]),
      attr(OPT_T, 32, [...u32(65003), ...u32(1), ...u32(2)]),
      attr(OPT_T, 35, u32(65003)),
      attr(OPT_T, 99, [1, 2, 3]),
    ]),
    nlri: Buffer.concat([v4prefix('10.97.2.0/24'), v4prefix('10.97.3.128/25'), v4prefix('10.0.0.0/8')]),
  });
  const v6 = update({
    attrs: Buffer.concat([
      mpUnreachV6([v6prefix('fd00:97:1::/48')]),
      mpReachV6([v6prefix('fd00:97:2::/48'), v6prefix('fd00:97:3::/64')]),
      k.origin,
      path,
    ]),
  });
  const withdraw = update({ withdrawn: Buffer.concat([v4prefix('10.97.2.0/24'), v4prefix('10.97.4.0/24')]) });
  // As a 2-octet speaker sends it (RFC 6793 §4.2.2); on the other sessions the same bytes mean something else.
  const as4 = update({
    attrs: Buffer.concat([
      k.origin,
      attr(WK, 2, asSeq([65003, 23456, 23456], false)),
      k.nextHopAttr,
      attr(OPT_T, 7, [0x5b, 0xa0, ...ipv4('10.0.0.5')]),
      attr(OPT_T, 17, asSeq([70000, 4_200_000_000])),
      attr(OPT_T, 18, [...u32(70000), ...ipv4('10.0.0.5')]),
      attr(WK, 5, u32(200)),
      attr(OPT, 9, ipv4('10.0.0.7')),
      attr(OPT, 10, [...ipv4('10.0.0.8'), ...ipv4('10.0.0.9')]),
    ]),
    nlri: Buffer.concat([v4prefix('10.97.5.0/24'), v4prefix('10.97.6.0/23')]),
  });
  const refresh = message(5, Buffer.of(0, 1, 0, 1));
  const open = encodeOpen(openMessage(h.options(FUZZ)));
  return [full, full, v6, v6, as4, as4, withdraw, refresh, open, open];
}

function mutate(src: Buffer, rnd: () => number): Buffer {
  const int = (n: number) => Math.floor(rnd() * n);
  let b = Buffer.from(src);
  const fixLen = () => {
    if (b.length >= 18) b.writeUInt16BE(Math.min(b.length, 0xffff), 16);
  };
  const rounds = 1 + int(3);
  for (let r = 0; r < rounds; r++) {
    switch (int(7)) {
      case 0: {
        // bit flips past the marker (rarely in it)
        const n = 1 + int(4);
        for (let i = 0; i < n; i++) {
          const at = int(20) === 0 ? int(b.length) : 16 + int(b.length - 16);
          b[at] = (b[at] ?? 0) ^ (1 << int(8));
        }
        break;
      }
      case 1:
        b = b.subarray(0, 19 + int(b.length - 18));
        fixLen();
        break;
      case 2:
        // cut without fixing the header: the header now claims more than is sent
        b = b.subarray(0, 19 + int(b.length - 18));
        break;
      case 3: {
        const at = 19 + int(Math.max(1, b.length - 19));
        b[at] = [0, 0xff, int(256), (b[at] ?? 0) + 1, (b[at] ?? 0) - 1][int(5)]! & 0xff;
        break;
      }
      case 4: {
        // a length field: header, withdrawn length, or the byte at a random spot read as an attribute length
        const which = int(3);
        if (which === 0) b.writeUInt16BE(Math.max(0, Math.min(0xffff, b.readUInt16BE(16) + int(9) - 4)), 16);
        else if (which === 1 && b.length >= 21) b.writeUInt16BE(int(2) ? int(0x10000) : b.readUInt16BE(19) + 1, 19);
        else if (b.length > 24) b[23 + int(b.length - 23)] = int(256);
        break;
      }
      case 5: {
        const at = 19 + int(b.length - 18);
        const ins = Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)));
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        fixLen();
        break;
      }
      default:
        // the type byte
        b[18] = int(8);
        break;
    }
  }
  return Buffer.from(b);
}

/** RFC 4271 §4.5 / §6 subcodes (0 = unspecific where the RFC allows it), RFC 5492, RFC 9234, RFC 7313. */
const VALID_SUBCODES: Readonly<Record<number, readonly number[]>> = {
  1: [1, 2, 3],
  2: [0, 1, 2, 3, 4, 6, 7, 11],
  3: [1, 2, 3, 4, 5, 6, 8, 9, 10, 11],
  5: [0, 1, 2, 3],
  7: [1],
};

/**
 * The error codes that can answer a message of this type: a header error always; otherwise the type's own
 * (OPEN → 2, UPDATE → 3, ROUTE-REFRESH → 7). A NOTIFICATION or KEEPALIVE can only have a bad header.
 */
function plausibleCodes(type: number, first: boolean): number[] {
  if (first) return [1, 2];
  if (type === MessageType.Update) return [1, 3];
  if (type === MessageType.RouteRefresh) return [1, 7];
  return [1];
}

interface FuzzResult {
  readonly ok: boolean;
  readonly what: string;
}

let sentinelSeq = 0;
/** A good UPDATE for a sentinel prefix unique to this call. */
function nextSentinel(f: Flavour): { prefix: string; bytes: Buffer } {
  const i = ++sentinelSeq;
  const prefix = `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
  return { prefix, bytes: goodUpdate({ ...kit(f.peer, h.options(f.peer)), four: f.four }, prefix) };
}

let fuzzRaw: RawPeer | undefined;

/** Sends one (possibly corrupt) message over a live session or as the first message; judges the outcome. */
async function fuzzOne(bytes: Buffer): Promise<FuzzResult> {
  const isOpenTemplate = bytes[18] === MessageType.Open;
  let raw: RawPeer;
  if (isOpenTemplate) {
    await endFuzzSession();
    raw = await RawPeer.connect(h.options(FUZZ));
  } else {
    if (!fuzzRaw || fuzzRaw.closed) {
      await endFuzzSession();
      flavour = nextFlavour();
      fuzzRaw = await h.establish(flavour.peer, { fourOctetAs: flavour.four });
    }
    raw = fuzzRaw;
  }
  const f = flavour;
  raw.send(bytes);
  // A header claiming more bytes than were sent makes the speaker (rightly) wait: complete the message with
  // zeros so it is judged on its own and the sentinel after it is framed as a message of its own.
  const claimed = bytes.length >= 18 ? bytes.readUInt16BE(16) : 0;
  if (claimed > bytes.length) raw.send(Buffer.alloc(claimed - bytes.length));
  const judge = async (): Promise<FuzzResult | undefined> => {
    const n = raw.notification;
    if (n) {
      await raw.outcome(0);
      const allowed = plausibleCodes(bytes[18] ?? 0, isOpenTemplate);
      if (!allowed.includes(n.code) || !VALID_SUBCODES[n.code]?.includes(n.subcode))
        return {
          ok: false,
          what: `NOTIFICATION ${n.code}/${n.subcode}: not a valid answer to a message of type ${bytes[18]} (codes ${allowed.join(', ')})`,
        };
      if (!raw.closed) return { ok: false, what: `NOTIFICATION ${n.code}/${n.subcode} but the connection stayed open` };
      return { ok: true, what: `NOTIFICATION ${n.code}/${n.subcode}` };
    }
    if (raw.closed) {
      // Closing without a NOTIFICATION is right only when we sent one (type 3).
      return bytes[18] === MessageType.Notification
        ? { ok: true, what: 'closed (we sent a NOTIFICATION)' }
        : { ok: false, what: 'connection closed without a NOTIFICATION' };
    }
    return undefined;
  };
  if (isOpenTemplate) {
    try {
      return await judgeOpen(raw, judge);
    } finally {
      await raw.close('fin');
    }
  }
  const s = nextSentinel(f);
  raw.send(s.bytes);
  const wait = async (ms: number) => {
    try {
      await until('a reaction', () => h.best(s.prefix) !== undefined || raw.closed || !!raw.notification, ms);
    } catch {}
  };
  await wait(3000);
  let j = await judge();
  if (j) return j;
  if (h.best(s.prefix) !== undefined) {
    if (h.state(f.peer) !== 'Established')
      return { ok: false, what: `route arrived but session is ${h.state(f.peer)}` };
    return { ok: true, what: 'session up' };
  }
  // Still waiting for bytes (should not happen after the fill above): push a run of 0xff through.
  raw.send(Buffer.alloc(4096, 0xff));
  await wait(3000);
  j = await judge();
  if (j) return { ...j, ok: false, what: `stalled until 4096 bytes of 0xff were pushed, then ${j.what}` };
  await raw.close('reset');
  fuzzRaw = undefined;
  return { ok: false, what: 'no reaction (session wedged)' };
}

/** The rest of a corrupt-OPEN case: a NOTIFICATION, or acceptance (then finish the handshake and exchange a route). */
async function judgeOpen(raw: RawPeer, judge: () => Promise<FuzzResult | undefined>): Promise<FuzzResult> {
  {
    let deadline = Date.now() + 3000;
    let padded = false;
    for (;;) {
      const j = await judge();
      if (j) return j;
      if (raw.count(MessageType.Keepalive) > 0) {
        // The corrupt OPEN was acceptable: finish the handshake and exchange a route.
        raw.send(encodeKeepalive());
        await until(
          'Established after a corrupt but acceptable OPEN',
          () => h.state(FUZZ) === 'Established' || raw.closed,
        );
        // The corrupt OPEN may have dropped the 4-octet AS capability: encode the sentinel for the session.
        const four = h.speaker.peerStatus().find((p) => p.address === raw.options.localAddress)?.capabilities;
        const s = nextSentinel({
          peer: FUZZ,
          four: (four as { fourOctetAs?: boolean } | undefined)?.fourOctetAs !== false,
        });
        raw.send(s.bytes);
        await until('the sentinel', () => h.best(s.prefix) !== undefined || raw.closed || !!raw.notification, 2000);
        return (await judge()) ?? { ok: true, what: 'OPEN accepted, session up' };
      }
      if (Date.now() > deadline) {
        if (padded) {
          await raw.close('reset');
          return { ok: false, what: 'no reaction to a corrupt OPEN (wedged)' };
        }
        raw.send(Buffer.alloc(4096, 0xff));
        padded = true;
        deadline = Date.now() + 3000;
      }
      await new Promise((r) => setTimeout(r, 3));
    }
  }
}

function saveToCorpus(bytes: Buffer): string {
  mkdirSync(CORPUS, { recursive: true });
  const name = `${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.bin`;
  writeFileSync(join(CORPUS, name), bytes);
  return name;
}

async function endFuzzSession(): Promise<void> {
  if (fuzzRaw) await fuzzRaw.close('fin');
  fuzzRaw = undefined;
  await h.settle(flavour.peer);
  await h.settle(FUZZ);
}

/** After corruption: a fresh session comes up and routes go both ways (ours in, the speaker's out). */
async function freshSessionWorks(): Promise<void> {
  await endFuzzSession();
  const raw = await h.establish(FUZZ);
  try {
    const prefix = '10.96.0.0/24';
    raw.send(goodUpdate(kit(FUZZ, raw.options), prefix));
    await until('the fresh route in the Loc-RIB', () => h.best(prefix) !== undefined);
    const nlri = v4prefix(ORIGINATED);
    await raw.until('the speaker to advertise its originated prefix', () =>
      raw.received.some((m) => m[18] === MessageType.Update && m.includes(nlri)),
    );
  } finally {
    await raw.close('cease');
    await h.settle(FUZZ);
  }
}

describe('malformed messages on a live session: random corruption', () => {
  it('replays every saved corpus case: NOTIFICATION with a valid code or session up, never a crash', async () => {
    let files: string[] = [];
    try {
      files = readdirSync(CORPUS)
        .filter((f) => f.endsWith('.bin'))
        .sort();
    } catch {}
    const failures: string[] = [];
    // The file does not record the session it broke: replay each one over every flavour.
    for (const fl of FLAVOURS) {
      nextFlavour = () => fl;
      await endFuzzSession();
      for (const f of files) {
        const bytes = readFileSync(join(CORPUS, f));
        const r = await fuzzOne(bytes);
        assertNoCrash(`corpus ${f}`);
        if (!r.ok) failures.push(`${f} (${fl.peer}, ${fl.four ? '4' : '2'}-octet AS): ${r.what}: ${hex(bytes)}`);
      }
    }
    await freshSessionWorks();
    assertNoCrash('corpus replay');
    assert.deepEqual(failures, []);
  });

  it('random corruptions of valid UPDATE / OPEN / ROUTE-REFRESH: the speaker never throws and always reacts', async () => {
    const seed = Number(process.env.CARACAL_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const count = Number(process.env.CARACAL_FUZZ_CASES ?? 500);
    const rnd = seededRandom(seed);
    nextFlavour = () => FLAVOURS[Math.floor(rnd() * FLAVOURS.length)]!;
    const tpl = templates();
    const failures: string[] = [];
    const reactions = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const bytes = mutate(tpl[Math.floor(rnd() * tpl.length)]!, rnd);
      let r: FuzzResult;
      try {
        r = await fuzzOne(bytes);
        if (uncaught.length || h.errors.some((e) => e.event === 'sessionInternalError' || e.event === 'listenerError'))
          r = {
            ok: false,
            what: `speaker threw: ${[...uncaught.map(String), ...h.errors.map((e) => JSON.stringify(e))].join('; ')}`,
          };
      } catch (e) {
        r = { ok: false, what: `harness: ${String(e)}` };
        fuzzRaw?.socket.destroy();
        fuzzRaw = undefined;
      }
      uncaught.length = 0;
      h.errors.length = 0;
      const key = r.what.replace(/\d+\/\d+/, (m) => m);
      reactions.set(key, (reactions.get(key) ?? 0) + 1);
      if (!r.ok)
        failures.push(
          `case ${i} (seed ${seed}, ${flavour.peer} ${flavour.four ? 4 : 2}-octet) → ${saveToCorpus(bytes)}: ${r.what}: ${hex(bytes)}`,
        );
    }
    await freshSessionWorks();
    assertNoCrash('random corruption');
    if (process.env.CARACAL_MALFORMED_TABLE)
      table.push(
        `fuzz seed ${seed}: ${[...reactions]
          .sort((a, b) => b[1] - a[1])
          .map(([k, n]) => `${k} ×${n}`)
          .join(', ')}`,
      );
    assert.deepEqual(failures, [], `seed ${seed}`);
  });
});
