/**
 * Field schemas shared by several kinds (addresses, CIDRs, AS numbers, ports, selectors, timestamps,
 * conditions) and `addIssue()`, the one way our refinements report a problem.
 *
 * Messages are the reason only ("must not have host bits set; the network is 10.244.0.0/16"): the field
 * path, the kind and the object name are added by `parseResource()` (validate.ts), which also appends
 * ": current value is …" from the issue's `input`. Each schema here is a base: call `.describe()` at the
 * use site, which makes a new instance carrying that field's own `kubectl explain` text.
 */
import { z } from 'zod';
import { canonicalCidrProblem, type IpFamily, tryParseCidr, tryParseIp } from './ip.js';
import { DNS_SUBDOMAIN } from './meta.js';

/** Report a problem at `path` (relative to the schema being refined) with the offending value. */
export function addIssue(ctx: z.RefinementCtx, path: readonly PropertyKey[], message: string, input?: unknown): void {
  ctx.addIssue({ code: 'custom', path: [...path], message, input });
}

const familyName = (f: IpFamily) => (f === 4 ? 'IPv4' : 'IPv6');

/** An IP address (either family unless `family` is given), any valid text form. */
export function ipAddress(family?: IpFamily) {
  return z
    .string()
    .max(64)
    .superRefine((s, ctx) => {
      const r = tryParseIp(s);
      if (!r.ok)
        addIssue(ctx, [], `must be an ${family ? familyName(family) : 'IPv4 or IPv6'} address (${r.reason})`, s);
      else if (family && r.value.family !== family) addIssue(ctx, [], `must be an ${familyName(family)} address`, s);
    });
}

/**
 * A network CIDR in canonical form (host bits clear, RFC 5952 text for IPv6), optionally limited to a range
 * of prefix lengths per family (IPAM blocks: 20–32 and 116–128).
 */
export function networkCidr(prefixLens?: Readonly<Record<IpFamily, readonly [number, number]>>) {
  return z
    .string()
    .max(48)
    .superRefine((s, ctx) => {
      const problem = canonicalCidrProblem(s);
      if (problem) return addIssue(ctx, [], problem, s);
      if (!prefixLens) return;
      const c = tryParseCidr(s);
      if (!c.ok) return;
      const [lo, hi] = prefixLens[c.value.family];
      if (c.value.prefixLen < lo || c.value.prefixLen > hi) {
        addIssue(ctx, [], `must have a prefix length between ${lo} and ${hi} for ${familyName(c.value.family)}`, s);
      }
    });
}

/** An interface address with its subnet (`10.0.0.5/24`): host bits are expected here. */
export function interfaceCidr(family: IpFamily) {
  return z
    .string()
    .max(48)
    .superRefine((s, ctx) => {
      const r = tryParseCidr(s);
      if (!r.ok) addIssue(ctx, [], `must be an ${familyName(family)} address with prefix length (${r.reason})`, s);
      else if (r.value.family !== family) addIssue(ctx, [], `must be an ${familyName(family)} address`, s);
    });
}

/** Any valid CIDR, host bits allowed (what Kubernetes accepts in NetworkPolicy ipBlock). */
export const anyCidr = z
  .string()
  .max(48)
  .superRefine((s, ctx) => {
    const r = tryParseCidr(s);
    if (!r.ok) addIssue(ctx, [], `must be a CIDR such as 10.0.0.0/8 (${r.reason})`, s);
  });

/** Prefix-length bounds of IPAM blocks per family (ipam.md §1.1). */
export const BLOCK_PREFIX_LENS = { 4: [20, 32], 6: [116, 128] } as const satisfies Record<
  IpFamily,
  readonly [number, number]
>;

/** 4-octet AS number, RFC 6793. 0 is reserved (RFC 7607). */
export const asNumber = z.number().int().min(1).max(4_294_967_295);

export const portNumber = z.number().int().min(1).max(65_535);

export const protocol = z.enum(['TCP', 'UDP', 'SCTP']);

/** A Kubernetes object name (RFC 1123 subdomain), e.g. a node name. */
export const objectName = z.string().min(1).max(253).regex(DNS_SUBDOMAIN, 'must be a lowercase RFC 1123 subdomain');

/** A Calico-syntax selector (`role == "rr"`, `all()`); parsed by the component that uses it. */
export const selector = z.string().max(1024);

/** A duration in whole seconds. */
export const seconds = (max: number) => z.number().int().min(0).max(max);

/** RFC 3339 timestamp as Kubernetes writes it (`2026-11-22T20:13:45Z`; an offset is accepted too). */
export const timestamp = z.iso.datetime({ offset: true });

/** EUI-48 MAC address, colon-separated. */
export const macAddress = z
  .string()
  .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'must be a MAC address such as 0a:58:0a:f4:03:01');

/**
 * IANA service name (RFC 6335 §5.1), what Kubernetes requires of a named port: at most 15 characters,
 * lower-case letters, digits and '-', at least one letter, no leading, trailing or doubled '-'.
 */
export const portName = z
  .string()
  .max(15)
  .superRefine((s, ctx) => {
    const ok = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s) && /[a-z]/.test(s) && !s.includes('--');
    if (!ok) addIssue(ctx, [], 'must be an IANA service name: 1-15 lower-case letters, digits and single dashes', s);
  });

/** A reference to one key of a Secret in the agent's namespace (TCP-MD5 passwords). */
export const secretKeyRef = z
  .object({
    secretKeyRef: z
      .object({
        name: objectName.describe('Name of the Secret'),
        key: z.string().min(1).max(253).describe('Key within the Secret whose value is the password'),
      })
      .describe('The Secret key holding the password'),
  })
  .describe('TCP-MD5 password (RFC 2385), read from a Secret');

/**
 * Unsigned 64-bit integer as a decimal string. JSON numbers above 2^53 lose precision in JavaScript (and in
 * many other JSON parsers), and IPAM sequence numbers start at the Unix time in nanoseconds (~1.8e18), so
 * they are stored as text and compared as BigInt.
 */
export const decimalUint64 = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,19})$/, 'must be a decimal integer without leading zeros')
  .refine((s) => BigInt(s) <= 0xffff_ffff_ffff_ffffn, 'must be at most 18446744073709551615 (2^64 - 1)');

/** A standard Kubernetes status condition (metav1.Condition). */
export const condition = z.object({
  type: z.string().min(1).max(316).describe('Condition type, e.g. Allocatable'),
  status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown'),
  reason: z.string().max(1024).optional().describe('Machine-readable CamelCase reason for the last transition'),
  message: z.string().max(32_768).optional().describe('Human-readable detail'),
  lastTransitionTime: timestamp.optional().describe('When the status last changed'),
  observedGeneration: z.number().int().min(0).optional().describe('metadata.generation this condition is based on'),
});

/** Report duplicates in `items` (by `keyOf`) at `[field, index]`, naming the first occurrence. */
export function checkUnique<T>(
  ctx: z.RefinementCtx,
  field: string,
  items: readonly T[] | undefined,
  keyOf: (t: T) => string,
  what: string,
): void {
  const seen = new Map<string, number>();
  items?.forEach((item, i) => {
    const k = keyOf(item);
    const first = seen.get(k);
    if (first === undefined) seen.set(k, i);
    else addIssue(ctx, [field, i], `duplicates ${what} at ${field}[${first}]`, k);
  });
}
