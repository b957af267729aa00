/**
 * Pure pool helpers: which pools serve a request, which block an address falls in, and the order in which a
 * node tries a pool's blocks when it claims one (ipam.md §3 steps 3 and 6.3).
 *
 * The claim order starts at an index drawn from the node name (FNV-1a 32) and walks the pool's blocks from
 * there, wrapping: one node retries the same sequence (and so finds its own half-claimed blocks first), and
 * different nodes start far apart, so concurrent claims rarely race for one block.
 *
 * Node selectors use Calico's selector language; only the forms pools use in practice are understood here
 * (`all()`, empty, `k == 'v'`, `k != 'v'`, `has(k)`, `!has(k)`, joined by `&&`). Anything else is refused
 * with IPAM_NO_POOL naming the selector, never silently matched.
 */
import { CaracalError, ErrorCodes } from '../common/errors.js';
import {
  type Cidr,
  cidrContainsIp,
  formatCidr,
  type IpAddress,
  type IpFamily,
  maskOf,
  networkBase,
  parseCidr,
} from '../model/ip.js';
import type { IPPool } from '../model/ip-pool.js';

/** The block CIDR of `pool` that holds `ip` (the pool must contain it). */
export function blockCidrFor(pool: IPPool, ip: IpAddress): string {
  const len = pool.spec.blockSize;
  return formatCidr({ family: ip.family, address: ip.value & maskOf(ip.family, len), prefixLen: len });
}

/** The pool containing `ip`, if any. */
export function poolFor(pools: readonly IPPool[], ip: IpAddress): IPPool | undefined {
  return pools.find((p) => cidrContainsIp(parseCidr(p.spec.cidr), ip));
}

export function poolFamily(pool: IPPool): IpFamily {
  return pool.spec.cidr.includes(':') ? 6 : 4;
}

/** FNV-1a, 32 bits. */
export function fnv32a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Number of blocks in the pool (capped at 2^40: enumeration is lazy anyway). */
export function blockCount(pool: IPPool): bigint {
  const c = parseCidr(pool.spec.cidr);
  return 1n << BigInt(Math.min(40, pool.spec.blockSize - c.prefixLen));
}

/** The pool's block CIDRs in `node`'s claim order (see the module header). Lazy: pools can hold 2^20 blocks. */
export function* candidateBlocks(pool: IPPool, node: string): Generator<string> {
  const c: Cidr = parseCidr(pool.spec.cidr);
  const count = blockCount(pool);
  const step = 1n << BigInt((c.family === 4 ? 32 : 128) - pool.spec.blockSize);
  const base = networkBase(c);
  const start = BigInt(fnv32a(node)) % count;
  for (let i = 0n; i < count; i++) {
    const k = (start + i) % count;
    yield formatCidr({ family: c.family, address: base + k * step, prefixLen: pool.spec.blockSize });
  }
}

type Term =
  | { kind: 'all' }
  | { kind: 'eq' | 'neq'; key: string; value: string }
  | { kind: 'has' | 'nothas'; key: string };

function parseTerm(t: string, selector: string): Term {
  const s = t.trim();
  if (s === 'all()') return { kind: 'all' };
  let m = /^has\(\s*([\w./-]+)\s*\)$/.exec(s);
  if (m) return { kind: 'has', key: m[1]! };
  m = /^!\s*has\(\s*([\w./-]+)\s*\)$/.exec(s);
  if (m) return { kind: 'nothas', key: m[1]! };
  m = /^([\w./-]+)\s*(==|!=)\s*(?:'([^']*)'|"([^"]*)")$/.exec(s);
  if (m) return { kind: m[2] === '==' ? 'eq' : 'neq', key: m[1]!, value: m[3] ?? m[4] ?? '' };
  throw new CaracalError(
    ErrorCodes.IpamNoPool,
    `Cannot match pool nodeSelector "${selector}": term "${s}" is not supported (use all(), k == 'v', k != 'v', has(k), !has(k) joined by &&)`,
  );
}

/** Whether a Calico-style node selector matches `labels` (see the module header for the supported forms). */
export function selectorMatches(selector: string | undefined, labels: Readonly<Record<string, string>>): boolean {
  const text = (selector ?? '').trim();
  if (text === '') return true;
  return text.split('&&').every((part) => {
    const t = parseTerm(part, text);
    switch (t.kind) {
      case 'all':
        return true;
      case 'has':
        return t.key in labels;
      case 'nothas':
        return !(t.key in labels);
      case 'eq':
        return labels[t.key] === t.value;
      default:
        return labels[t.key] !== t.value;
    }
  });
}

export type IntendedUse = 'Workload' | 'Tunnel' | 'LoadBalancer';

/**
 * The pools a request may use, in order. Named pools (by name or CIDR) are used exactly, whatever their
 * selectors say (ipam.md §3 step 3); otherwise enabled Automatic pools whose nodeSelector matches.
 * Throws IPAM_NO_POOL when none is left.
 */
export function selectPools(
  pools: readonly IPPool[],
  family: IpFamily,
  opts: { node: string; nodeLabels: Readonly<Record<string, string>>; named?: readonly string[]; use: IntendedUse },
): IPPool[] {
  const ofFamily = pools.filter((p) => poolFamily(p) === family && p.spec.allowedUses.includes(opts.use));
  let out: IPPool[];
  if (opts.named && opts.named.length > 0) {
    out = [];
    for (const n of opts.named) {
      const p = ofFamily.find((x) => x.metadata.name === n || x.spec.cidr === n);
      if (!p) {
        throw new CaracalError(
          ErrorCodes.IpamNoPool,
          `Cannot assign an IPv${family} address on node "${opts.node}": requested pool "${n}" is not an IPv${family} pool allowing ${opts.use} use`,
          { details: { node: opts.node, pool: n } },
        );
      }
      if (!p.spec.disabled) out.push(p);
    }
  } else {
    out = ofFamily.filter(
      (p) =>
        !p.spec.disabled &&
        p.spec.assignmentMode === 'Automatic' &&
        selectorMatches(p.spec.nodeSelector, opts.nodeLabels),
    );
  }
  if (out.length === 0) {
    throw new CaracalError(
      ErrorCodes.IpamNoPool,
      `Cannot assign an IPv${family} address on node "${opts.node}": no enabled IPv${family} pool selects the node`,
      { details: { node: opts.node, family } },
    );
  }
  return out;
}
