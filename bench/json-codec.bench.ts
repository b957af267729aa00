/**
 * nftables JSON transaction encoding: a sized byte writer against JSON.stringify of an object tree.
 *
 * What it measures: turning one batch of IP-set element changes (20 selector sets, 8,000 additions and
 * 2,000 deletions of IPv4 addresses held as uint32, as felix/calc hands them over) into the bytes of one
 * libnftables JSON transaction (`{"nftables":[{"add":{"element":{…,"elem":["10.0.0.1",…]}}},…]}`), which
 * felix/dataplane/nft sends in one call (ARCHITECTURE "Policy to nftables"; STYLE §2.9 "work out the size,
 * allocate once, write in place").
 * - ours: compute the exact length, `Buffer.allocUnsafe` once, write header bytes and dotted quads in place.
 * - reference: build `{ nftables: [...] }` with dotted-quad strings, `JSON.stringify`, `Buffer.from`.
 * Both produce identical bytes; `setup` checks that before anything is timed.
 *
 * What the result means: the ratio is the encoding cost alone, per transaction, in one process. It says
 * nothing about libnftables' own parse time (which dominates an apply and is the same for both), so a win
 * here matters only if encoding shows up in a profile of `apply()`. Throughput is in set elements per second.
 */
import assert from 'node:assert/strict';
import { sideBySide } from './api.js';

interface SetDelta {
  readonly name: string;
  readonly add: Uint32Array;
  readonly del: Uint32Array;
}

const FAMILY = 'inet';
const TABLE = 'caracal';
const SETS = 20;
const ADDS = 8_000;
const DELS = 2_000;

/** A fixed xorshift32 stream, so every run encodes the same addresses. */
function addresses(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (0x0a000000 | (x & 0x00ffffff)) >>> 0; // 10.0.0.0/8, the shape of a pod CIDR
  }
  return out;
}

const adds = addresses(ADDS, 0x9e3779b9);
const dels = addresses(DELS, 0x7f4a7c15);
const BATCH: readonly SetDelta[] = Array.from({ length: SETS }, (_, i) => ({
  name: `caracal-sel-${i.toString(16).padStart(4, '0')}`,
  add: adds.subarray((i * ADDS) / SETS, ((i + 1) * ADDS) / SETS),
  del: dels.subarray((i * DELS) / SETS, ((i + 1) * DELS) / SETS),
}));

// ---------------------------------------------------------------------------------------------------------
// reference: an object tree and JSON.stringify

const dotted = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

function encodeTree(batch: readonly SetDelta[]): Buffer {
  const nftables: unknown[] = [];
  for (const s of batch) {
    for (const [verb, elems] of [
      ['add', s.add],
      ['delete', s.del],
    ] as const) {
      if (elems.length === 0) continue;
      nftables.push({
        [verb]: { element: { family: FAMILY, table: TABLE, name: s.name, elem: Array.from(elems, dotted) } },
      });
    }
  }
  return Buffer.from(JSON.stringify({ nftables }));
}

// ---------------------------------------------------------------------------------------------------------
// ours: exact size, one allocation, bytes written in place

const QUOTE = 0x22;
const COMMA = 0x2c;
const DOT = 0x2e;
const ZERO = 0x30;

const octetLen = (o: number): number => (o >= 100 ? 3 : o >= 10 ? 2 : 1);
const quadLen = (a: number): number =>
  octetLen(a >>> 24) + octetLen((a >>> 16) & 255) + octetLen((a >>> 8) & 255) + octetLen(a & 255) + 3;

function writeOctet(out: Buffer, off: number, o: number): number {
  if (o >= 100) {
    out[off++] = ZERO + ((o / 100) | 0);
    out[off++] = ZERO + (((o / 10) | 0) % 10);
  } else if (o >= 10) out[off++] = ZERO + ((o / 10) | 0);
  out[off++] = ZERO + (o % 10);
  return off;
}

function writeQuad(out: Buffer, off: number, a: number): number {
  off = writeOctet(out, off, a >>> 24);
  out[off++] = DOT;
  off = writeOctet(out, off, (a >>> 16) & 255);
  out[off++] = DOT;
  off = writeOctet(out, off, (a >>> 8) & 255);
  out[off++] = DOT;
  return writeOctet(out, off, a & 255);
}

const OPEN = Buffer.from('{"nftables":[');
const CLOSE = Buffer.from(']}');
const ELEM_TAIL = Buffer.from(']}}}');

/** `{"add":{"element":{"family":"inet","table":"caracal","name":<name>,"elem":[`; JSON.stringify escapes the name. */
const elemHead = (verb: string, name: string): Buffer =>
  Buffer.from(
    `{${JSON.stringify(verb)}:{"element":{"family":${JSON.stringify(FAMILY)},"table":${JSON.stringify(TABLE)},` +
      `"name":${JSON.stringify(name)},"elem":[`,
  );

function encodeWriter(batch: readonly SetDelta[]): Buffer {
  const parts: (readonly [Buffer, Uint32Array])[] = [];
  let size = OPEN.length + CLOSE.length;
  for (const s of batch) {
    for (const [verb, elems] of [
      ['add', s.add],
      ['delete', s.del],
    ] as const) {
      if (elems.length === 0) continue;
      const head = elemHead(verb, s.name);
      size += (parts.length > 0 ? 1 : 0) + head.length + ELEM_TAIL.length + Math.max(0, elems.length - 1);
      for (let i = 0; i < elems.length; i++) size += quadLen(elems[i]!) + 2;
      parts.push([head, elems]);
    }
  }
  const out = Buffer.allocUnsafe(size);
  let off = OPEN.copy(out, 0);
  for (let p = 0; p < parts.length; p++) {
    const [head, elems] = parts[p]!;
    if (p > 0) out[off++] = COMMA;
    off += head.copy(out, off);
    for (let i = 0; i < elems.length; i++) {
      if (i > 0) out[off++] = COMMA;
      out[off++] = QUOTE;
      off = writeQuad(out, off, elems[i]!);
      out[off++] = QUOTE;
    }
    off += ELEM_TAIL.copy(out, off);
  }
  off += CLOSE.copy(out, off);
  if (off !== size) throw new Error(`Cannot encode nft transaction: wrote ${off} bytes, sized ${size}`);
  return out;
}

export default sideBySide('nft JSON transaction, 10k set elements', {
  labels: { ours: 'sized writer', reference: 'JSON.stringify' },
  ours: () => encodeWriter(BATCH),
  reference: () => encodeTree(BATCH),
  units: 'elements',
  unitsPerRun: ADDS + DELS,
  setup: () => {
    const a = encodeWriter(BATCH);
    assert.ok(a.equals(encodeTree(BATCH)), 'both encoders must produce identical bytes');
    const parsed = JSON.parse(a.toString('latin1')) as { nftables: unknown[] };
    assert.equal(parsed.nftables.length, SETS * 2);
  },
});
