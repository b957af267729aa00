/**
 * Import/export policy: a small rule language (the model), compiled once per session into a matcher that
 * runs on the RIB hot path. The standalone config schema validates policies elsewhere; this module trusts
 * its input apart from the checks `compilePolicy` needs to build the matcher (bad CIDRs, bad regexes throw).
 *
 * Semantics (BIRD filter-like, first terminating match wins):
 *  - Rules are tried in order. A rule matches when every condition it gives matches (an empty match
 *    matches everything; a list condition matches when any element does).
 *  - A matching rule applies its modifications; if it says `accept` or `reject`, evaluation stops there.
 *    Otherwise evaluation goes on with the modified route. When no rule terminates, `default` decides.
 *
 * Speed: prefix conditions are precomputed numeric ranges over prefix keys (no string or bigint work per
 * prefix). Everything else depends only on the attribute set and whether the route is locally originated,
 * so it is evaluated once per (set, local, prefix-match bits) and cached; AS-path patterns never run per
 * prefix. When no rule has a prefix condition the RIB evaluates once per UPDATE (`prefixDependent`).
 */
import { CaracalError, describeError, ErrorCodes } from '../../common/errors.js';
import { parseCidr } from '../../model/ip.js';
import type { AttrInterner } from '../rib/attr-intern.js';
import { type AsPathSegment, AsPathSegmentType, type PathAttributes, type PrefixKey } from '../wire/types.js';

/** `cidr` with optional length range; without ge/le only the exact prefix matches (BIRD, Cisco). */
export interface PrefixMatch {
  readonly cidr: string;
  readonly ge?: number | undefined;
  readonly le?: number | undefined;
}

export interface AsPathMatch {
  /** The AS appears anywhere in the path. */
  readonly contains?: number | undefined;
  /** The origin AS (the last AS of the path) is this one. */
  readonly originAs?: number | undefined;
  /**
   * A whole-path pattern over the AS numbers, first (neighbour) to last (origin), AS_SET members in order,
   * tokens separated by spaces: a number matches that AS, `?` any one AS, `*` any run (possibly empty).
   * Anchored at both ends, like BIRD's `bgp_path ~ [= * 65000 * =]`, which is written here `* 65000 *`.
   */
  readonly pattern?: string | undefined;
  /**
   * A JavaScript regular expression over the path as text, ASNs separated by single spaces, neighbour
   * first ("65001 65002 65100"); for what `pattern` cannot say. Like everything but prefixes it runs once
   * per attribute set, not per prefix.
   */
  readonly regex?: string | undefined;
}

export interface Match {
  readonly prefix?: readonly PrefixMatch[] | undefined;
  /** RFC 1997 communities: "65000:100", a name (no-export, no-advertise, no-export-subconfed), or a number. */
  readonly community?: readonly (string | number)[] | undefined;
  readonly asPath?: AsPathMatch | undefined;
  readonly nextHop?: readonly string[] | undefined;
  /** The route is originated by this node (`true`) or learned (`false`). */
  readonly local?: boolean | undefined;
}

export interface Actions {
  readonly action?: 'accept' | 'reject' | undefined;
  readonly setLocalPref?: number | undefined;
  readonly setMed?: number | undefined;
  readonly addCommunities?: readonly (string | number)[] | undefined;
  readonly removeCommunities?: readonly (string | number)[] | undefined;
  readonly nextHopSelf?: boolean | undefined;
  readonly prependAs?: { readonly asn: number; readonly times: number } | undefined;
}

export interface Rule {
  readonly match: Match;
  readonly actions: Actions;
}

export interface Policy {
  readonly name: string;
  readonly rules: readonly Rule[];
  readonly default: 'accept' | 'reject';
}

/** Session-specific values actions need. */
export interface PolicyContext {
  readonly interner: AttrInterner;
  /** Our address on the session, for `nextHopSelf` ("" leaves the next hop alone). */
  readonly selfNextHop?: string | undefined;
  /** Our IPv6 address for `nextHopSelf` on IPv6 prefixes (else `selfNextHop`). */
  readonly selfNextHopV6?: string | undefined;
}

export interface CompiledPolicy {
  readonly name: string;
  /** False when no rule looks at the prefix: then the outcome depends on the attribute set only. */
  readonly prefixDependent: boolean;
  /** The attribute set to use (possibly `attrs` itself), or null when the route is rejected. */
  evaluate(key: PrefixKey, attrs: PathAttributes, local: boolean): PathAttributes | null;
}

/** RFC 1997 well-known communities. */
export const WELL_KNOWN_COMMUNITIES: Readonly<Record<string, number>> = {
  'no-export': 0xffffff01,
  'no-advertise': 0xffffff02,
  'no-export-subconfed': 0xffffff03,
  'no-peer': 0xffffff04, // RFC 3765
};

/** "65000:100" | well-known name | number → unsigned 32-bit community. */
export function parseCommunity(c: string | number): number {
  if (typeof c === 'number') {
    if (!Number.isInteger(c) || c < 0 || c > 0xffffffff) throw new RangeError(`Cannot parse community ${c}`);
    return c;
  }
  const wk = WELL_KNOWN_COMMUNITIES[c.toLowerCase()];
  if (wk !== undefined) return wk;
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(c);
  const hi = Number(m?.[1]);
  const lo = Number(m?.[2]);
  if (!m || hi > 0xffff || lo > 0xffff) throw new RangeError(`Cannot parse community "${c}": expected asn:value`);
  return (hi * 0x10000 + lo) >>> 0;
}

export function formatCommunity(c: number): string {
  return `${Math.floor(c / 0x10000)}:${c & 0xffff}`;
}

// ---------------------------------------------------------------------------------------------------------
// Prefix matching on keys

interface V4Range {
  readonly base: number;
  readonly mask: number;
  readonly ge: number;
  readonly le: number;
}
interface V6Range {
  /** The first `whole` bytes of the prefix as latin1 chars. */
  readonly head: string;
  readonly whole: number;
  /** Partial last byte: mask and expected value (mask 0 when the length is a multiple of 8). */
  readonly partMask: number;
  readonly partValue: number;
  readonly ge: number;
  readonly le: number;
}

function compilePrefix(p: PrefixMatch): V4Range | V6Range {
  const c = parseCidr(p.cidr);
  const max = c.family === 4 ? 32 : 128;
  const ge = p.ge ?? c.prefixLen;
  const le = p.le ?? (p.ge !== undefined ? max : c.prefixLen);
  if (!(c.prefixLen <= ge && ge <= le && le <= max))
    throw new RangeError(`Cannot compile prefix match "${p.cidr}" ge ${ge} le ${le}: need len ≤ ge ≤ le ≤ ${max}`);
  if (c.family === 4) {
    const mask = c.prefixLen === 0 ? 0 : (0xffffffff << (32 - c.prefixLen)) >>> 0;
    return { base: (Number(c.address) & mask) >>> 0, mask, ge, le };
  }
  const bytes = Buffer.alloc(16);
  let v = c.address;
  for (let i = 15; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  const whole = c.prefixLen >> 3;
  const rem = c.prefixLen & 7;
  const partMask = rem === 0 ? 0 : (0xff << (8 - rem)) & 0xff;
  return {
    head: bytes.toString('latin1', 0, whole),
    whole,
    partMask,
    partValue: (bytes[whole] ?? 0) & partMask,
    ge,
    le,
  };
}

function matchesPrefix(key: PrefixKey, ranges: readonly (V4Range | V6Range)[]): boolean {
  if (typeof key === 'number') {
    const len = key % 64;
    const addr = (key - len) / 64;
    for (const r of ranges) {
      if (!('mask' in r) || len < r.ge || len > r.le) continue;
      if ((addr & r.mask) >>> 0 === r.base) return true;
    }
    return false;
  }
  const len = key.charCodeAt(16);
  for (const r of ranges) {
    if ('mask' in r || len < r.ge || len > r.le) continue;
    if (!key.startsWith(r.head)) continue;
    if (r.partMask !== 0 && (key.charCodeAt(r.whole) & r.partMask) !== r.partValue) continue;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// AS path

function flatPath(path: readonly AsPathSegment[]): number[] {
  const out: number[] = [];
  for (const s of path)
    if (s.type === AsPathSegmentType.AsSequence || s.type === AsPathSegmentType.AsSet) out.push(...s.asns);
  return out;
}

type PatTok = number | '?' | '*';

function compilePattern(text: string): PatTok[] {
  return text
    .trim()
    .split(/\s+/)
    .filter((t) => t !== '')
    .map((t) => {
      if (t === '?' || t === '*') return t;
      if (!/^\d+$/.test(t) || Number(t) > 0xffffffff)
        throw new RangeError(`Cannot compile AS path pattern "${text}": "${t}" is not an AS number, ? or *`);
      return Number(t);
    });
}

/** Anchored match of a token list against an AS list; `*` by backtracking (paths are short). */
export function matchAsPattern(pat: readonly PatTok[], path: readonly number[], pi = 0, ai = 0): boolean {
  while (pi < pat.length) {
    const t = pat[pi]!;
    if (t === '*') {
      for (let k = ai; k <= path.length; k++) if (matchAsPattern(pat, path, pi + 1, k)) return true;
      return false;
    }
    if (ai >= path.length || (t !== '?' && path[ai] !== t)) return false;
    pi++;
    ai++;
  }
  return ai === path.length;
}

// ---------------------------------------------------------------------------------------------------------
// Compilation

interface CompiledRule {
  readonly prefixes: readonly (V4Range | V6Range)[] | undefined;
  readonly attrMatch: (a: PathAttributes, local: boolean) => boolean;
  readonly actions: Actions;
  readonly add: readonly number[];
  readonly remove: ReadonlySet<number>;
}

function compileRule(r: Rule): CompiledRule {
  const m = r.match;
  const comms = m.community?.map(parseCommunity);
  const contains = m.asPath?.contains;
  const originAs = m.asPath?.originAs;
  const pattern = m.asPath?.pattern !== undefined ? compilePattern(m.asPath.pattern) : undefined;
  let regex: RegExp | undefined;
  try {
    regex = m.asPath?.regex !== undefined ? new RegExp(m.asPath.regex) : undefined;
  } catch (e) {
    throw new RangeError(`Cannot compile AS path regex "${m.asPath?.regex}": ${(e as Error).message}`);
  }
  const nextHops = m.nextHop ? new Set(m.nextHop) : undefined;
  const local = m.local;
  const attrMatch = (a: PathAttributes, isLocal: boolean): boolean => {
    if (local !== undefined && local !== isLocal) return false;
    if (comms && !comms.some((c) => a.communities.includes(c))) return false;
    if (nextHops && !nextHops.has(a.nextHop)) return false;
    if (contains !== undefined || originAs !== undefined || pattern || regex) {
      const flat = flatPath(a.asPath);
      if (contains !== undefined && !flat.includes(contains)) return false;
      if (originAs !== undefined && flat[flat.length - 1] !== originAs) return false;
      if (pattern && !matchAsPattern(pattern, flat)) return false;
      if (regex && !regex.test(flat.join(' '))) return false;
    }
    return true;
  };
  return {
    prefixes: m.prefix?.map(compilePrefix),
    attrMatch,
    actions: r.actions,
    add: (r.actions.addCommunities ?? []).map(parseCommunity),
    remove: new Set((r.actions.removeCommunities ?? []).map(parseCommunity)),
  };
}

/**
 * Compiles `p` for one session. The result caches per attribute set; it clears its cache when the
 * interner sweeps (`interner.epoch`).
 * @example compilePolicy(ACCEPT_ALL, { interner }).evaluate(key, attrs, false) === attrs
 */
export function compilePolicy(p: Policy, ctx: PolicyContext): CompiledPolicy {
  const rules = p.rules.map((r, i) => {
    try {
      return compileRule(r);
    } catch (e) {
      throw new CaracalError(
        ErrorCodes.InvalidConfig,
        `Cannot compile BGP policy "${p.name}" rule ${i}: ${describeError(e)}`,
        {
          details: { policy: p.name, rule: i },
          cause: e,
        },
      );
    }
  });
  const prefixRules: number[] = [];
  rules.forEach((r, i) => {
    if (r.prefixes) prefixRules.push(i);
  });
  // Up to 30 prefix rules the matched set is a bitmask number; beyond that a string of 0/1 (slower, rare).
  const wide = prefixRules.length > 30;
  const interner = ctx.interner;
  // Cache: attrs → slot per (local, matched prefix rules) → result. Results are interned sets, or null.
  let cache = new Map<PathAttributes, Map<number | string, PathAttributes | null>>();
  let epoch = interner.epoch;

  const self4 = ctx.selfNextHop ?? ctx.selfNextHopV6;
  const self6 = ctx.selfNextHopV6 ?? ctx.selfNextHop;
  const run = (
    a0: PathAttributes,
    local: boolean,
    v6: boolean,
    matched: (i: number) => boolean,
  ): PathAttributes | null => {
    let a = a0;
    let pi = 0;
    for (const r of rules) {
      if (r.prefixes && !matched(pi++)) continue;
      if (!r.attrMatch(a, local)) continue;
      a = applyActions(a, r, interner, v6 ? self6 : self4);
      if (r.actions.action === 'reject') return null;
      if (r.actions.action === 'accept') return a;
    }
    return p.default === 'accept' ? a : null;
  };

  return {
    name: p.name,
    prefixDependent: prefixRules.length > 0,
    evaluate(key, attrs, local) {
      if (interner.epoch !== epoch) {
        cache = new Map();
        epoch = interner.epoch;
      }
      const v6 = typeof key !== 'number';
      let slot: number | string;
      let matched: (i: number) => boolean;
      if (!wide) {
        let bits = 0;
        for (let i = 0; i < prefixRules.length; i++)
          if (matchesPrefix(key, rules[prefixRules[i]!]!.prefixes!)) bits |= 1 << i;
        slot = bits * 4 + (local ? 2 : 0) + (v6 ? 1 : 0);
        matched = (i) => (bits & (1 << i)) !== 0;
      } else {
        let text = (local ? 'L' : 'R') + (v6 ? '6' : '4');
        for (let i = 0; i < prefixRules.length; i++)
          text += matchesPrefix(key, rules[prefixRules[i]!]!.prefixes!) ? '1' : '0';
        slot = text;
        matched = (i) => text.charCodeAt(i + 2) === 0x31;
      }
      let perAttrs = cache.get(attrs);
      if (perAttrs === undefined) {
        perAttrs = new Map();
        cache.set(attrs, perAttrs);
      }
      let out = perAttrs.get(slot);
      if (out === undefined) {
        out = run(attrs, local, v6, matched);
        perAttrs.set(slot, out);
      }
      return out;
    },
  };
}

function applyActions(a: PathAttributes, r: CompiledRule, interner: AttrInterner, self: string | undefined) {
  const x = r.actions;
  if (
    x.setLocalPref === undefined &&
    x.setMed === undefined &&
    r.add.length === 0 &&
    r.remove.size === 0 &&
    !(x.nextHopSelf && self) &&
    !x.prependAs
  )
    return a;
  let communities = a.communities;
  if (r.remove.size > 0) communities = communities.filter((c) => !r.remove.has(c));
  if (r.add.length > 0) communities = [...new Set([...communities, ...r.add])].sort((p, q) => p - q);
  let asPath = a.asPath;
  if (x.prependAs && x.prependAs.times > 0) {
    const pre: number[] = new Array(x.prependAs.times).fill(x.prependAs.asn);
    const first = asPath[0];
    asPath =
      first?.type === AsPathSegmentType.AsSequence && first.asns.length + pre.length <= 255
        ? [{ type: AsPathSegmentType.AsSequence, asns: [...pre, ...first.asns] }, ...asPath.slice(1)]
        : [{ type: AsPathSegmentType.AsSequence, asns: pre }, ...asPath];
  }
  return interner.internAttrs({
    ...a,
    localPref: x.setLocalPref ?? a.localPref,
    med: x.setMed ?? a.med,
    communities,
    asPath,
    nextHop: x.nextHopSelf && self ? self : a.nextHop,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Built-ins and RFC 8212

export const ACCEPT_ALL: Policy = Object.freeze<Policy>({ name: 'accept-all', rules: [], default: 'accept' });
export const REJECT_ALL: Policy = Object.freeze<Policy>({ name: 'reject-all', rules: [], default: 'reject' });
/** Export only what this node originates (its blocks and configured prefixes): a Caracal node's default. */
export const ORIGINATED: Policy = Object.freeze<Policy>({
  name: 'originated',
  rules: [{ match: { local: true }, actions: { action: 'accept' } }],
  default: 'reject',
});
export const BUILTIN_POLICIES: ReadonlyMap<string, Policy> = new Map([
  [ACCEPT_ALL.name, ACCEPT_ALL],
  [REJECT_ALL.name, REJECT_ALL],
  [ORIGINATED.name, ORIGINATED],
]);

export interface PolicyPeer {
  readonly ebgp: boolean;
  /** RFC 8212 default-reject for eBGP without explicit policy; on unless set to false. */
  readonly rfc8212?: boolean | undefined;
  /** We reflect routes to/for this iBGP peer (it is a client, or we are a reflector). */
  readonly reflecting?: boolean | undefined;
  readonly importPolicy?: Policy | undefined;
  readonly exportPolicy?: Policy | undefined;
}

/**
 * The policy a session runs in one direction. An explicit policy always wins. Without one:
 *  - eBGP: RFC 8212 §3, reject everything in both directions, unless `rfc8212: false`; then import
 *    accepts all and export sends only originated routes.
 *  - iBGP: import accepts all (Calico trusts its fabric); export sends originated routes, or everything
 *    when reflecting (the reflection rules in adj-rib-out.ts still decide what may go where).
 */
export function effectivePolicy(peer: PolicyPeer, dir: 'import' | 'export'): Policy {
  const explicit = dir === 'import' ? peer.importPolicy : peer.exportPolicy;
  if (explicit) return explicit;
  if (peer.ebgp && peer.rfc8212 !== false) return REJECT_ALL;
  if (dir === 'import') return ACCEPT_ALL;
  return !peer.ebgp && peer.reflecting ? ACCEPT_ALL : ORIGINATED;
}
