/**
 * IPv4 and IPv6 addresses and CIDRs as plain data: an address is `{ family, value }` with the value a
 * bigint (32 or 128 bits), a CIDR is `{ family, address, prefixLen }` where `address` is kept as written
 * (an interface address such as 10.0.0.5/24 keeps its host bits; `networkOf()` clears them).
 *
 * Parsing is a small hand-written scanner, not a regular expression: strict dotted-decimal for IPv4 (no
 * leading zeros, which some parsers read as octal), RFC 4291 §2.2 text forms for IPv6 (one `::`, an optional
 * dotted IPv4 tail), no zone ids. Formatting is canonical: RFC 5952 §4 for IPv6 (lower case, no leading
 * zeros, the longest run of two or more zero groups compressed, the first on a tie) with the §5 dotted form
 * for IPv4-mapped addresses. Canonical text matters because object names are derived from it
 * (`blockName()` in ipam-block.ts).
 *
 * Left out: address arithmetic beyond what IPAM and validation need, zone ids, and the RIB's compact prefix
 * keys (those live with the speaker).
 */
import { CaracalError, ErrorCodes } from '../common/errors.js';

export type IpFamily = 4 | 6;

/** Address width in bits per family. */
export const IP_BITS = { 4: 32, 6: 128 } as const satisfies Record<IpFamily, number>;

export interface IpAddress {
  readonly family: IpFamily;
  /** 0 ≤ value < 2^32 (IPv4) or 2^128 (IPv6). */
  readonly value: bigint;
}

export interface Cidr {
  readonly family: IpFamily;
  /** The address as written; may have host bits set (see `hasHostBits()`). */
  readonly address: bigint;
  readonly prefixLen: number;
}

/** The outcome of a `tryParse*` call: the value, or why the text was refused. */
export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

function parseV4(text: string): bigint | string {
  const parts = text.split('.');
  if (parts.length !== 4) return 'an IPv4 address has four dot-separated decimal parts';
  let value = 0n;
  for (const part of parts) {
    if (part.length === 0 || part.length > 3) return `part "${part}" must be a decimal number from 0 to 255`;
    for (const ch of part) if (ch < '0' || ch > '9') return `part "${part}" must be a decimal number from 0 to 255`;
    if (part.length > 1 && part[0] === '0') return `part "${part}" has a leading zero (ambiguous: octal or decimal)`;
    const n = Number(part);
    if (n > 255) return `part "${part}" must be a decimal number from 0 to 255`;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseGroups(text: string): number[] | string {
  if (text === '') return [];
  const groups: number[] = [];
  for (const g of text.split(':')) {
    if (g.length === 0) return 'a group is empty (only one "::" is allowed)';
    if (g.length > 4) return `group "${g}" has more than four hex digits`;
    for (const ch of g.toLowerCase()) {
      if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return `group "${g}" is not hexadecimal`;
    }
    groups.push(Number.parseInt(g, 16));
  }
  return groups;
}

function parseV6(text: string): bigint | string {
  if (text.includes('%')) return 'zone ids are not allowed';
  let body = text;
  let tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  if (lastColon < 0) return 'an IPv6 address has colon-separated groups';
  const last = body.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = parseV4(last);
    if (typeof v4 === 'string') return `embedded IPv4 address: ${v4}`;
    tail = [Number(v4 >> 16n), Number(v4 & 0xffffn)];
    // Drop the IPv4 part and its separating ':', unless that ':' belongs to a '::' ("::ffff:1.2.3.4" keeps
    // "::ffff", "::1.2.3.4" keeps "::").
    body = body.slice(0, lastColon + 1);
    if (!body.endsWith('::')) body = body.slice(0, -1);
  }
  const dbl = body.indexOf('::');
  let groups: number[];
  if (dbl >= 0) {
    if (body.indexOf('::', dbl + 1) >= 0) return 'only one "::" is allowed';
    const head = parseGroups(body.slice(0, dbl));
    if (typeof head === 'string') return head;
    const rest = parseGroups(body.slice(dbl + 2));
    if (typeof rest === 'string') return rest;
    const present = head.length + rest.length + tail.length;
    if (present > 7) return '"::" must stand for at least one group';
    groups = [...head, ...new Array<number>(8 - present).fill(0), ...rest, ...tail];
  } else {
    const all = parseGroups(body);
    if (typeof all === 'string') return all;
    groups = [...all, ...tail];
    if (groups.length !== 8) return `an IPv6 address without "::" has eight groups, found ${groups.length}`;
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/** Parse an IPv4 or IPv6 address; the family is picked by the presence of a colon. */
export function tryParseIp(text: string): ParseResult<IpAddress> {
  if (text.length === 0) return fail('the address is empty');
  if (text.length > 64) return fail('the address is too long');
  if (text.includes(':')) {
    const v = parseV6(text);
    return typeof v === 'string' ? fail(v) : { ok: true, value: { family: 6, value: v } };
  }
  const v = parseV4(text);
  return typeof v === 'string' ? fail(v) : { ok: true, value: { family: 4, value: v } };
}

/**
 * Parse an address or throw INVALID_RESOURCE naming the text and the reason.
 * @example parseIp('fd00::1') // { family: 6, value: 0xfd00...01n }
 */
export function parseIp(text: string): IpAddress {
  const r = tryParseIp(text);
  if (!r.ok) throw new CaracalError(ErrorCodes.InvalidResource, `Cannot parse IP address "${text}": ${r.reason}`);
  return r.value;
}

function formatV4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
}

function formatV6(value: bigint): string {
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted tail.
  if (value >> 32n === 0xffffn) return `::ffff:${formatV4(value & 0xffffffffn)}`;
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952 §4.2: compress the longest run of zero groups (length ≥ 2), the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Canonical text: dotted decimal, or RFC 5952 for IPv6. */
export function formatIp(ip: IpAddress): string {
  return ip.family === 4 ? formatV4(ip.value) : formatV6(ip.value);
}

/** Parse `address/prefixLen`. Host bits are allowed here; `hasHostBits()` tells whether there are any. */
export function tryParseCidr(text: string): ParseResult<Cidr> {
  if (text.length === 0) return fail('the CIDR is empty');
  const slash = text.indexOf('/');
  if (slash < 0) return fail('a CIDR is an address, "/" and a prefix length, such as 10.244.0.0/16');
  const addr = tryParseIp(text.slice(0, slash));
  if (!addr.ok) return addr;
  const lenText = text.slice(slash + 1);
  const bits = IP_BITS[addr.value.family];
  let digitsOnly = lenText.length > 0 && lenText.length <= 3;
  for (const ch of lenText) if (ch < '0' || ch > '9') digitsOnly = false;
  if (!digitsOnly || (lenText.length > 1 && lenText[0] === '0') || Number(lenText) > bits) {
    return fail(`the prefix length "${lenText}" must be a whole number from 0 to ${bits}`);
  }
  return { ok: true, value: { family: addr.value.family, address: addr.value.value, prefixLen: Number(lenText) } };
}

/** Parse a CIDR or throw INVALID_RESOURCE naming the text and the reason. */
export function parseCidr(text: string): Cidr {
  const r = tryParseCidr(text);
  if (!r.ok) throw new CaracalError(ErrorCodes.InvalidResource, `Cannot parse CIDR "${text}": ${r.reason}`);
  return r.value;
}

/** `address/prefixLen` with the address in canonical text (host bits kept as they are). */
export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.address })}/${c.prefixLen}`;
}

/** The netmask as a number: `prefixLen` one bits followed by zero bits. */
export function maskOf(family: IpFamily, prefixLen: number): bigint {
  const bits = BigInt(IP_BITS[family]);
  const all = (1n << bits) - 1n;
  return (all << (bits - BigInt(prefixLen))) & all;
}

/** The network base of `c` (host bits cleared). */
export function networkBase(c: Cidr): bigint {
  return c.address & maskOf(c.family, c.prefixLen);
}

/** `c` with its host bits cleared. */
export function networkOf(c: Cidr): Cidr {
  return { family: c.family, address: networkBase(c), prefixLen: c.prefixLen };
}

export function hasHostBits(c: Cidr): boolean {
  return networkBase(c) !== c.address;
}

/** Number of addresses in the CIDR (2^(bits − prefixLen)). */
export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(IP_BITS[c.family] - c.prefixLen);
}

/** The last address of the network (the IPv4 broadcast address). */
export function lastAddress(c: Cidr): bigint {
  return networkBase(c) + cidrSize(c) - 1n;
}

/** Whether `ip` lies in the network of `c`. Addresses of the other family are never contained. */
export function cidrContainsIp(c: Cidr, ip: IpAddress): boolean {
  return c.family === ip.family && (ip.value & maskOf(c.family, c.prefixLen)) === networkBase(c);
}

/** Whether every address of `inner` lies in `outer` (a network contains itself). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return (
    outer.family === inner.family &&
    inner.prefixLen >= outer.prefixLen &&
    (inner.address & maskOf(outer.family, outer.prefixLen)) === networkBase(outer)
  );
}

/** Whether the two networks share at least one address. CIDR networks either nest or are disjoint. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** The address at `ordinal` within the network of `c` (IPAM block ordinal i is `base + i`). */
export function addressAt(c: Cidr, ordinal: number | bigint): IpAddress {
  const o = BigInt(ordinal);
  if (o < 0n || o >= cidrSize(c)) {
    throw new CaracalError(
      ErrorCodes.InvalidResource,
      `Cannot take address ${o} of ${formatCidr(c)}: ordinal must be below ${cidrSize(c)}`,
    );
  }
  return { family: c.family, value: networkBase(c) + o };
}

/** The ordinal of `ip` within the network of `c`, or undefined when `ip` is outside it. */
export function ordinalOf(c: Cidr, ip: IpAddress): bigint | undefined {
  return cidrContainsIp(c, ip) ? ip.value - networkBase(c) : undefined;
}

/** Whether the address is IPv4-mapped (::ffff:0:0/96), which RFC 5952 §5 formats with a dotted tail. */
export function isV4Mapped(ip: IpAddress): boolean {
  return ip.family === 6 && ip.value >> 32n === 0xffffn;
}

/**
 * Why `text` is not a canonical network CIDR, or undefined when it is: valid, host bits clear, and written
 * exactly as `formatCidr()` would write it. The reasons read as the tail of a validation message.
 */
export function canonicalCidrProblem(text: string): string | undefined {
  const r = tryParseCidr(text);
  if (!r.ok) return `must be a CIDR such as 10.244.0.0/16 or fd00:10:244::/48 (${r.reason})`;
  const net = networkOf(r.value);
  if (hasHostBits(r.value)) return `must not have host bits set; the network is ${formatCidr(net)}`;
  const canon = formatCidr(net);
  if (canon !== text) return `must be written in canonical form "${canon}"`;
  return undefined;
}
