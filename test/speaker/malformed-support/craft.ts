/**
 * Byte builders for hand-made (and deliberately broken) BGP messages. Nothing here validates: the point is
 * to write exactly the bytes a test asks for.
 */

/** A message: 16-byte marker, length, type, body. `len` and `marker` override the honest values. */
export function message(type: number, body: Uint8Array, o: { len?: number; marker?: Uint8Array } = {}): Buffer {
  const out = Buffer.alloc(19 + body.length, 0xff);
  if (o.marker) out.set(o.marker.subarray(0, 16), 0);
  out.writeUInt16BE(o.len ?? out.length, 16);
  out[18] = type;
  out.set(body, 19);
  return out;
}

/** One path attribute; extended length (2-octet) when the flags say so or the value needs it. */
export function attr(flags: number, code: number, value: Uint8Array | readonly number[], lenOverride?: number): Buffer {
  const v = Buffer.from(value as Uint8Array);
  const ext = (flags & 0x10) !== 0 || v.length > 255;
  const f = ext ? flags | 0x10 : flags;
  const h = Buffer.alloc(ext ? 4 : 3);
  h[0] = f;
  h[1] = code;
  const len = lenOverride ?? v.length;
  if (ext) h.writeUInt16BE(len, 2);
  else h[2] = len;
  return Buffer.concat([h, v]);
}

/** An UPDATE body from parts; the two length fields are honest unless overridden. */
export function updateBody(p: {
  withdrawn?: Uint8Array;
  attrs?: Uint8Array;
  nlri?: Uint8Array;
  withdrawnLen?: number;
  attrsLen?: number;
}): Buffer {
  const w = Buffer.from(p.withdrawn ?? new Uint8Array(0));
  const a = Buffer.from(p.attrs ?? new Uint8Array(0));
  const n = Buffer.from(p.nlri ?? new Uint8Array(0));
  const wl = Buffer.alloc(2);
  wl.writeUInt16BE(p.withdrawnLen ?? w.length);
  const al = Buffer.alloc(2);
  al.writeUInt16BE(p.attrsLen ?? a.length);
  return Buffer.concat([wl, w, al, a, n]);
}

export const update = (p: Parameters<typeof updateBody>[0], o: { len?: number } = {}): Buffer =>
  message(2, updateBody(p), o);

/** IPv4 prefix in NLRI encoding ("10.1.2.0/24" → 24 10 1 2). */
export function v4prefix(cidr: string): Buffer {
  const [addr, lenText] = cidr.split('/') as [string, string];
  const len = Number(lenText);
  const bytes = addr.split('.').map(Number);
  return Buffer.from([len, ...bytes.slice(0, Math.ceil(len / 8))]);
}

/** IPv6 prefix in NLRI encoding (only the forms used in tests: "fd00:1:2::/48"-style, groups before "::"). */
export function v6prefix(cidr: string): Buffer {
  const [addr, lenText] = cidr.split('/') as [string, string];
  const len = Number(lenText);
  const head = (addr.split('::')[0] ?? '').split(':').filter((g) => g !== '');
  const b = Buffer.alloc(16);
  head.forEach((g, i) => {
    b.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return Buffer.from([len, ...b.subarray(0, Math.ceil(len / 8))]);
}

export const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
export const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
export const ipv4 = (a: string): number[] => a.split('.').map(Number);

/** Attribute flag bytes. */
export const WK = 0x40; // well-known transitive
export const OPT = 0x80; // optional non-transitive
export const OPT_T = 0xc0; // optional transitive

/** AS_PATH value: one AS_SEQUENCE of the given ASes, 4- or 2-octet. */
export function asSeq(ases: readonly number[], four = true): number[] {
  return [2, ases.length, ...ases.flatMap((a) => (four ? u32(a) : u16(a)))];
}

/** The usual good attributes: ORIGIN IGP, AS_PATH, NEXT_HOP. */
export function baseAttrs(o: { asPath: readonly number[]; nextHop: string; four?: boolean }): Buffer[] {
  return [attr(WK, 1, [0]), attr(WK, 2, asSeq(o.asPath, o.four ?? true)), attr(WK, 3, ipv4(o.nextHop))];
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
