/**
 * `caracalctl ipam show|check|release|gc`: the allocator's state and its repair, through the datastore port
 * and ipam/ (never around them). Pure renderers here; ctl/cli.ts parses flags and opens the store.
 */
import { CaracalError, ErrorCodes } from '../common/errors.js';
import type { Datastore } from '../datastore/types.js';
import { checkIpam, DEFAULT_LEAK_GRACE_MS, type GcResult, gcIpam, Ipam, type IpamCheck } from '../ipam/index.js';
import { formatTable } from './resources.js';

export interface IpamFlags {
  output: 'table' | 'yaml' | 'json';
  showBlocks?: boolean;
  grace?: string;
  dryRun?: boolean;
  nodeListAuthoritative?: boolean;
  ip?: string[];
  seq?: string;
  handle?: string;
}

/**
 * A duration flag: a whole number with unit ms, s, m or h (`15m`); a bare number is seconds.
 * @example parseDuration('15m') // 900000
 */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) {
    throw new CaracalError(
      ErrorCodes.Usage,
      `Cannot parse duration "${text}": write a whole number and a unit, e.g. 15m, 30s, 0`,
    );
  }
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!;
}

function pct(used: number, size: number): string {
  const p = size === 0 ? 0 : (100 * used) / size;
  return used > 0 && p < 0.1 ? '<0.1%' : `${p.toFixed(1)}%`;
}

/** Pools, blocks per node, utilisation. */
export function renderShow(c: IpamCheck, showBlocks: boolean): string {
  const out: string[] = [];
  out.push(
    formatTable(
      ['POOL', 'CIDR', 'SIZE', 'BLOCKS', 'ALLOCATED', 'USED', 'DISABLED'],
      c.pools.map((p) => [
        p.name,
        p.cidr,
        p.hostBits > 32 ? `2^${p.hostBits}` : p.size,
        p.blocks,
        p.allocated,
        pct(p.allocated, p.size),
        p.disabled,
      ]),
    ),
  );
  const byNode = new Map<string, { blocks: number; size: number; allocated: number; borrowed: number }>();
  for (const b of c.blocks) {
    const key = b.node ?? '(none)';
    const n = byNode.get(key) ?? { blocks: 0, size: 0, allocated: 0, borrowed: 0 };
    n.blocks++;
    n.size += b.size;
    n.allocated += b.allocated;
    n.borrowed += b.borrowed;
    byNode.set(key, n);
  }
  out.push('');
  out.push(
    formatTable(
      ['NODE', 'BLOCKS', 'ADDRESSES', 'ALLOCATED', 'USED', 'LENT'],
      [...byNode]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([node, n]) => [node, n.blocks, n.size, n.allocated, pct(n.allocated, n.size), n.borrowed]),
    ),
  );
  if (showBlocks) {
    out.push('');
    out.push(
      formatTable(
        ['BLOCK', 'NODE', 'SIZE', 'ALLOCATED', 'USED', 'LENT'],
        c.blocks.map((b) => [b.cidr, b.node ?? '(none)', b.size, b.allocated, pct(b.allocated, b.size), b.borrowed]),
      ),
    );
  }
  return out.join('\n');
}

/** Problems (exit 1), then warnings and leak candidates still inside the grace period. */
export function renderCheck(c: IpamCheck, graceMs: number): string {
  const lines: string[] = [];
  const allocated = c.blocks.reduce((s, b) => s + b.allocated, 0);
  lines.push(
    `Checked ${c.blocks.length} blocks, ${allocated} allocated addresses (leak grace period ${graceMs / 1000}s).`,
  );
  for (const p of c.problems) lines.push(`PROBLEM ${p.kind}: ${p.message}`);
  for (const w of c.warnings) lines.push(`warning ${w.kind}: ${w.message}`);
  for (const l of c.leaks.filter((x) => !x.confirmed)) {
    lines.push(`candidate: ${l.ip} (handle ${l.handleId ?? 'none'}): ${l.reason}; inside the grace period`);
  }
  lines.push(c.problems.length === 0 ? 'No problems found.' : `${c.problems.length} problem(s) found.`);
  return lines.join('\n');
}

export function renderGc(r: GcResult, dryRun: boolean): string {
  const lines: string[] = [];
  const verb = dryRun ? 'would release' : 'released';
  lines.push(
    formatTable(
      ['ADDRESS', 'HANDLE', 'NODE', 'POD', 'REASON'],
      r.candidates.map((c) => [
        c.ip,
        c.handleId ?? '',
        c.node ?? '',
        c.namespace && c.pod ? `${c.namespace}/${c.pod}` : '',
        c.reason,
      ]),
    ),
  );
  if (dryRun) lines.push(`${r.candidates.length} address(es) would be released (dry run: nothing changed).`);
  else {
    lines.push(`${verb} ${r.released.length} address(es)`);
    if (r.stale.length) lines.push(`kept ${r.stale.length} reused since the scan: ${r.stale.join(', ')}`);
    if (r.handlesDeleted.length) lines.push(`deleted ${r.handlesDeleted.length} empty handle(s)`);
    if (r.blocksReleased.length) lines.push(`released ${r.blocksReleased.length} block(s) of deleted nodes`);
    if (r.affinitiesDeleted.length || r.affinitiesConfirmed.length)
      lines.push(`repaired ${r.affinitiesDeleted.length + r.affinitiesConfirmed.length} half-done affinity claim(s)`);
  }
  return lines.join('\n');
}

/** Runs one `ipam` subcommand; returns the exit status. */
export async function runIpam(store: Datastore, what: string | undefined, f: IpamFlags): Promise<number> {
  const graceMs = f.grace === undefined ? DEFAULT_LEAK_GRACE_MS : parseDuration(f.grace);
  const nodes = f.nodeListAuthoritative ? { nodeListAuthoritative: true } : {};
  const print = (table: string, data: unknown) =>
    console.log(f.output === 'json' ? JSON.stringify(data, null, 2) : table);
  if (what === 'show' && f.ip?.length) {
    const ipam = new Ipam(store);
    const infos = await Promise.all(f.ip.map((ip) => ipam.describeIp(ip)));
    const rows = f.ip.map((ip, i) => {
      const x = infos[i];
      if (!x) return [ip, 'free', '', '', '', '', ''];
      const owner = x.attrs.namespace && x.attrs.pod ? `${x.attrs.namespace}/${x.attrs.pod}` : (x.attrs.type ?? '');
      return [x.ip, x.blockCidr, x.handleId ?? '', owner, x.attrs.node ?? '', x.sequenceNumber ?? '', x.borrowed];
    });
    print(formatTable(['ADDRESS', 'BLOCK', 'HANDLE', 'OWNER', 'NODE', 'SEQUENCE', 'BORROWED'], rows), infos);
    return 0;
  }
  if (what === 'show') {
    const c = await checkIpam(store, { gracePeriodMs: graceMs, ...nodes });
    print(renderShow(c, f.showBlocks ?? false), { pools: c.pools, blocks: c.blocks });
    return 0;
  }
  if (what === 'check') {
    const c = await checkIpam(store, { gracePeriodMs: graceMs, ...nodes });
    print(renderCheck(c, graceMs), { problems: c.problems, warnings: c.warnings, leaks: c.leaks });
    return c.problems.length === 0 ? 0 : 1;
  }
  if (what === 'gc') {
    const ipam = new Ipam(store);
    let r = await gcIpam(store, { gracePeriodMs: graceMs, dryRun: f.dryRun ?? false, ipam, ...nodes });
    if (!f.dryRun && r.released.length > 0) {
      // Handles emptied by this pass are removed by a second one.
      const again = await gcIpam(store, { gracePeriodMs: graceMs, ipam });
      r = { ...r, handlesDeleted: [...r.handlesDeleted, ...again.handlesDeleted] };
    }
    print(renderGc(r, f.dryRun ?? false), r);
    return 0;
  }
  if (what === 'release') {
    const ipam = new Ipam(store);
    if (f.handle) {
      const released = await ipam.releaseByHandle(f.handle);
      print(released.length ? `released ${released.join(', ')}` : `handle "${f.handle}" holds no address`, {
        released,
      });
      return 0;
    }
    if (!f.ip?.length)
      throw new CaracalError(ErrorCodes.Usage, 'Cannot release: give --ip ADDRESS [--seq N] or --handle ID');
    if (f.seq !== undefined && f.ip.length !== 1) {
      throw new CaracalError(ErrorCodes.Usage, 'Cannot release: --seq applies to exactly one --ip');
    }
    if (f.seq !== undefined && !/^\d+$/.test(f.seq)) {
      throw new CaracalError(
        ErrorCodes.Usage,
        `Cannot release: --seq must be a whole number: current value is "${f.seq}"`,
      );
    }
    const out = await ipam.releaseIpsDetailed(f.ip.map((ip) => ({ ip, sequenceNumber: f.seq })));
    print(
      [...out.released.map((ip) => `released ${ip}`), ...out.notAllocated.map((ip) => `${ip} is not allocated`)].join(
        '\n',
      ),
      out,
    );
    if (out.stale.length > 0) {
      throw new CaracalError(
        ErrorCodes.IpamBadSequenceNumber,
        `Cannot release ${out.stale.join(', ')}: sequence number ${f.seq} no longer matches (the address was reused); nothing released`,
      );
    }
    return 0;
  }
  throw new CaracalError(ErrorCodes.Usage, 'Cannot run ipam: say show, check, release or gc');
}
