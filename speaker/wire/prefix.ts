/**
 * Prefix keys (STYLE §2.9) and NLRI on the wire (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3).
 *
 *  IPv4 key: a number, addr * 64 + len (addr unsigned 32-bit), exact in a double.
 *  IPv6 key: a 17-character latin1 string, the 16 address bytes then the length as one char.
 * Host bits are cleared when a key is built, so one prefix has exactly one key.
 *
 * The NLRI decoders push keys (and ADD-PATH ids) into caller arrays: no object per prefix, no closure.
 * A malformed NLRI field throws a session-reset BgpError: RFC 7606 §5.3 forbids treat-as-withdraw there,
 * since the prefixes themselves can't be located.
 */
import { parseIp } from '../../model/ip.js';
import { BgpError, ErrorCode, UpdateSubcode } from './errors.js';
import type { PrefixKey, PrefixKeyV4, PrefixKeyV6 } from './types.js';

/** @example prefixKeyV4(0x0a000000, 8) // 10.0.0.0/8 */
export function prefixKeyV4(addr: number, len: number): PrefixKeyV4 {
  const masked = len === 0 ? 0 : (addr & (0xffffffff << (32 - len))) >>> 0;
  return masked * 64 + len;
}
export function prefixLenV4(key: PrefixKeyV4): number {
  return key % 64;
}
export function prefixAddrV4(key: PrefixKeyV4): number {
  return (key - (key % 64)) / 64;
}

/** The key of `bytes[0..16)` / len; host bits cleared. */
export function prefixKeyV6(bytes: Uint8Array, len: number): PrefixKeyV6 {
  const b = Buffer.alloc(17);
  b.set(bytes.subarray(0, 16));
  maskV6(b, len);
  b[16] = len;
  return b.toString('latin1');
}
export function prefixLenV6(key: PrefixKeyV6): number {
  return key.charCodeAt(16);
}
/** The 16 address bytes of an IPv6 key. */
export function prefixBytesV6(key: PrefixKeyV6): Buffer {
  return Buffer.from(key.slice(0, 16), 'latin1');
}

function maskV6(b: Uint8Array, len: number): void {
  const full = len >> 3;
  if (full < 16) {
    b[full] = (b[full] as number) & (0xff00 >> (len & 7));
    for (let i = full + 1; i < 16; i++) b[i] = 0;
  }
}

export function formatIpv4(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
}

/** RFC 5952 text of 16 address bytes at `off`. */
export function formatIpv6(b: Uint8Array, off = 0): string {
  const g: number[] = new Array(8);
  for (let i = 0; i < 8; i++) g[i] = ((b[off + 2 * i] as number) << 8) | (b[off + 2 * i + 1] as number);
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted tail.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIpv4((((g[6] as number) << 16) | (g[7] as number)) >>> 0)}`;
  }
  // §4.2: compress the longest run (≥ 2) of zero groups, the first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** Parse a dotted-quad IPv4 address into an unsigned 32-bit number. */
export function parseIpv4(text: string): number {
  const ip = parseIp(text);
  if (ip.family !== 4) throw new TypeError(`Cannot parse IPv4 address "${text}": it is IPv6`);
  return Number(ip.value);
}

/** Write the 16 bytes of an IPv6 address (text) at `off`; returns the next offset. */
export function writeIpv6(text: string, out: Uint8Array, off: number): number {
  const ip = parseIp(text);
  if (ip.family !== 6) throw new TypeError(`Cannot parse IPv6 address "${text}": it is IPv4`);
  let v = ip.value;
  for (let i = 15; i >= 0; i--) {
    out[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return off + 16;
}

/**
 * "10.0.0.0/8" or "fd00::/64".
 * @example
 * formatPrefixKey(parsePrefixKey('fd00::1/64')) // 'fd00::/64'
 */
export function formatPrefixKey(key: PrefixKey): string {
  if (typeof key === 'number') return `${formatIpv4(prefixAddrV4(key))}/${prefixLenV4(key)}`;
  return `${formatIpv6(Buffer.from(key.slice(0, 16), 'latin1'))}/${prefixLenV6(key)}`;
}

/**
 * The key of "10.0.0.0/8" (a number) or "fd00::/64" (a string); host bits are cleared.
 * @example
 * parsePrefixKey('10.0.0.0/8') // 0x0a000000 * 64 + 8
 */
export function parsePrefixKey(text: string): PrefixKey {
  const slash = text.indexOf('/');
  if (slash < 0) throw new TypeError(`Cannot parse prefix "${text}": no "/"`);
  const len = Number(text.slice(slash + 1));
  const ip = parseIp(text.slice(0, slash));
  const max = ip.family === 4 ? 32 : 128;
  if (!Number.isInteger(len) || len < 0 || len > max) {
    throw new TypeError(`Cannot parse prefix "${text}": length must be 0..${max}`);
  }
  if (ip.family === 4) return prefixKeyV4(Number(ip.value), len);
  const b = Buffer.alloc(16);
  let v = ip.value;
  for (let i = 15; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return prefixKeyV6(b, len);
}

function nlriError(
  what: string,
  detail: string,
  action: 'session-reset' | 'afisafi-disable',
  data: Uint8Array,
): BgpError {
  // RFC 4271 §6.3: a bad classic NLRI field is Invalid Network Field; RFC 4760 §7 puts MP NLRI errors
  // under Optional Attribute Error.
  const sub =
    what === 'NLRI' || what === 'withdrawn routes'
      ? UpdateSubcode.InvalidNetworkField
      : UpdateSubcode.OptionalAttributeError;
  return new BgpError(ErrorCode.Update, sub, `Cannot decode ${what}: ${detail}`, { action, data });
}

/**
 * Decode IPv4 NLRI in `buf[off..end)` into `keys` (and `pathIds` when ADD-PATH receive is on).
 * `what` names the field for errors ("NLRI", "withdrawn routes", "MP_REACH_NLRI").
 */
export function decodeNlriV4(
  buf: Buffer,
  off: number,
  end: number,
  keys: number[],
  pathIds: number[] | undefined,
  what = 'NLRI',
): void {
  while (off < end) {
    if (pathIds !== undefined) {
      if (off + 5 > end)
        throw nlriError(
          what,
          `path identifier overruns the field at offset ${off}`,
          'session-reset',
          buf.subarray(off, end),
        );
      pathIds.push(buf.readUInt32BE(off));
      off += 4;
    }
    const len = buf[off] as number;
    if (len > 32)
      throw nlriError(what, `prefix length is ${len}, expected at most 32`, 'session-reset', buf.subarray(off, end));
    const n = (len + 7) >> 3;
    const p = off + 1;
    if (p + n > end)
      throw nlriError(what, `prefix of length ${len} overruns the field`, 'session-reset', buf.subarray(off, end));
    let a = 0;
    switch (n) {
      case 4:
        a = buf.readUInt32BE(p);
        break;
      case 3:
        a = (((buf[p] as number) << 24) | ((buf[p + 1] as number) << 16) | ((buf[p + 2] as number) << 8)) >>> 0;
        break;
      case 2:
        a = (((buf[p] as number) << 24) | ((buf[p + 1] as number) << 16)) >>> 0;
        break;
      case 1:
        a = ((buf[p] as number) << 24) >>> 0;
        break;
    }
    keys.push((len === 0 ? 0 : (a & (0xffffffff << (32 - len))) >>> 0) * 64 + len);
    off = p + n;
  }
}

/** Scratch for building IPv6 keys; only used inside decodeNlriV6, never escapes. */
const SCRATCH_V6 = new Uint8Array(17);

/** Decode IPv6 NLRI in `buf[off..end)`, as decodeNlriV4. */
export function decodeNlriV6(
  buf: Buffer,
  off: number,
  end: number,
  keys: string[],
  pathIds: number[] | undefined,
  what = 'MP_REACH_NLRI',
): void {
  const s = SCRATCH_V6;
  while (off < end) {
    if (pathIds !== undefined) {
      if (off + 5 > end)
        throw nlriError(
          what,
          `path identifier overruns the field at offset ${off}`,
          'session-reset',
          buf.subarray(off, end),
        );
      pathIds.push(buf.readUInt32BE(off));
      off += 4;
    }
    const len = buf[off] as number;
    if (len > 128)
      throw nlriError(what, `prefix length is ${len}, expected at most 128`, 'session-reset', buf.subarray(off, end));
    const n = (len + 7) >> 3;
    const p = off + 1;
    if (p + n > end)
      throw nlriError(what, `prefix of length ${len} overruns the field`, 'session-reset', buf.subarray(off, end));
    for (let i = 0; i < n; i++) s[i] = buf[p + i] as number;
    for (let i = n; i < 16; i++) s[i] = 0;
    if (len & 7) s[n - 1] = (s[n - 1] as number) & (0xff00 >> (len & 7));
    // Measured: String.fromCharCode with 17 arguments is about 2x faster than Buffer#toString('latin1') here
    // (1M /64s in MP_REACH: ~125 ms against ~240 ms).
    keys.push(
      String.fromCharCode(
        s[0] as number,
        s[1] as number,
        s[2] as number,
        s[3] as number,
        s[4] as number,
        s[5] as number,
        s[6] as number,
        s[7] as number,
        s[8] as number,
        s[9] as number,
        s[10] as number,
        s[11] as number,
        s[12] as number,
        s[13] as number,
        s[14] as number,
        s[15] as number,
        len,
      ),
    );
    off = p + n;
  }
}

/** Bytes one prefix takes on the wire (with its 4-byte path id when `addPath`). */
export function sizePrefix(key: PrefixKey, addPath: boolean): number {
  const len = typeof key === 'number' ? key % 64 : key.charCodeAt(16);
  return (addPath ? 5 : 1) + ((len + 7) >> 3);
}

/** Write one prefix (and path id) at `off`; returns the next offset. */
export function writePrefix(key: PrefixKey, pathId: number | undefined, out: Buffer, off: number): number {
  if (pathId !== undefined) off = out.writeUInt32BE(pathId >>> 0, off);
  if (typeof key === 'number') {
    const len = key % 64;
    const addr = (key - len) / 64;
    out[off++] = len;
    const n = (len + 7) >> 3;
    for (let i = 0; i < n; i++) out[off++] = (addr >>> (24 - 8 * i)) & 255;
    return off;
  }
  const len = key.charCodeAt(16);
  out[off++] = len;
  const n = (len + 7) >> 3;
  for (let i = 0; i < n; i++) out[off++] = key.charCodeAt(i);
  return off;
}
