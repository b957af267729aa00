/**
 * What the lab tests need from the lab's daemons beyond `lab.sessions()` / `lab.routes()`: one prefix's
 * best path with its AS path and next hop (birdc `show route for P all`, vtysh `show bgp ipvX unicast P json`,
 * `gobgp global rib -a ipvX P -j`), the same with its RFC 4456 attributes for the route-reflection and
 * graceful-restart tests (BGP.originator_id, BGP.cluster_list; FRR originatorId, clusterList), withdrawing one
 * originated prefix at run time (BIRD: drop the static route from its config and `birdc configure`; FRR:
 * `no network P`; GoBGP: `gobgp global rib del`), session shutdown, ROUTE-REFRESH, and raw birdc / vtysh.
 * Parsers are pure.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Lab } from '../../../lab/lab.js';
import { run } from '../../../lab/netns.js';
import type { RouterRuntime } from '../../../lab/routers.js';

export interface PathInfo {
  readonly prefix: string;
  readonly asPath: readonly number[];
  /** The first (global) next hop. */
  readonly nextHop: string;
}

const fam = (prefix: string) => (prefix.includes(':') ? 6 : 4);

/** True when the test can build labs (root, `ip netns`); otherwise the reason to skip. */
export function labSkipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, BGP on port 179)';
  return false;
}

export function runtime(lab: Lab, router: string): RouterRuntime {
  const rt = lab.state.routers.find((r) => r.name === router);
  if (!rt) throw new Error(`No router "${router}" in lab "${lab.name}"`);
  return rt;
}

const birdcArgv = (rt: RouterRuntime, ...cmd: string[]) => ['birdc', '-s', rt.ctlSocket!, ...cmd];
const vtyshArgv = (rt: RouterRuntime, ...cmds: string[]) => [
  'vtysh',
  '--vty_socket',
  rt.vtyDir!,
  '-d',
  'bgpd',
  ...cmds.flatMap((c) => ['-c', c]),
];
const gobgpArgv = (rt: RouterRuntime, ...args: string[]) => ['gobgp', '--target', `unix://${rt.apiSocket!}`, ...args];

/** `birdc show route for P all` → the best path, or undefined. */
export function parseBirdRouteAll(text: string, prefix: string): PathInfo | undefined {
  const lines = text.split('\n');
  let inBest = false;
  let asPath: number[] | undefined;
  let nextHop: string | undefined;
  for (const line of lines) {
    const head = /^(\S+)?\s+\w+ \[\S+[^\]]*\]( \*)? \(\d+/.exec(line);
    if (head) {
      if (head[1] && head[1] !== prefix) return undefined;
      if (inBest) break; // the next path of the same prefix
      inBest = head[2] !== undefined;
      continue;
    }
    if (!inBest) continue;
    const ap = /^\s+BGP\.as_path:(.*)$/.exec(line);
    if (ap) asPath = (ap[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
    const nh = /^\s+BGP\.next_hop:\s*(\S+)/.exec(line);
    if (nh) nextHop = nh[1];
  }
  return inBest && asPath && nextHop ? { prefix, asPath, nextHop } : undefined;
}

interface FrrPath {
  bestpath?: { overall?: boolean };
  aspath?: { string?: string };
  nexthops?: { ip?: string; scope?: string }[];
}

/** `vtysh show bgp ipvX unicast P json` → the best path, or undefined. */
export function parseFrrPrefix(json: unknown, prefix: string): PathInfo | undefined {
  const j = json as { prefix?: string; paths?: FrrPath[] };
  if (j.prefix !== prefix || !j.paths) return undefined;
  const best = j.paths.find((p) => p.bestpath?.overall) ?? j.paths[0];
  if (!best) return undefined;
  const nh = best.nexthops?.find((n) => n.scope !== 'link-local')?.ip ?? best.nexthops?.[0]?.ip;
  const text = best.aspath?.string ?? '';
  return {
    prefix,
    asPath: text
      .split(/\s+/)
      .filter((t) => /^\d+$/.test(t))
      .map(Number),
    nextHop: nh ?? '',
  }; // "Local": []
}

interface GobgpPath {
  best?: boolean;
  attrs?: { type: number; nexthop?: string; as_paths?: { asns?: number[] }[] }[];
}

/** `gobgp global rib -a ipvX P -j` → the best path, or undefined. */
export function parseGobgpPrefix(json: unknown, prefix: string): PathInfo | undefined {
  const paths = (json as Record<string, GobgpPath[]> | null)?.[prefix];
  const best = paths?.find((p) => p.best) ?? paths?.[0];
  if (!best) return undefined;
  const asPath = best.attrs?.find((a) => a.type === 2)?.as_paths?.flatMap((s) => s.asns ?? []) ?? [];
  const nextHop = best.attrs?.find((a) => a.type === 3 || a.type === 14)?.nexthop ?? '';
  return { prefix, asPath, nextHop };
}

/** The router's best path for exactly `prefix`, or undefined when it has none. */
export async function routerPath(lab: Lab, router: string, prefix: string): Promise<PathInfo | undefined> {
  const rt = runtime(lab, router);
  switch (rt.daemon) {
    case 'bird': {
      const r = await run(birdcArgv(rt, 'show', 'route', 'for', prefix, 'all'), { check: false }); // 1: not found
      return parseBirdRouteAll(r.stdout, prefix);
    }
    case 'frr': {
      const r = await run(vtyshArgv(rt, `show bgp ipv${fam(prefix)} unicast ${prefix} json`));
      return parseFrrPrefix(JSON.parse(r.stdout.trim() || '{}'), prefix);
    }
    case 'gobgp': {
      const r = await run(gobgpArgv(rt, 'global', 'rib', '-a', `ipv${fam(prefix)}`, prefix, '-j'), { check: false });
      const text = r.stdout.trim();
      if (r.code !== 0 || !text.startsWith('{')) return undefined; // "Network not in table"
      return parseGobgpPrefix(JSON.parse(text), prefix);
    }
  }
}

/** Stops originating `prefix` on `router`, at run time (the session stays up). */
export async function withdrawFromRouter(lab: Lab, router: string, prefix: string): Promise<void> {
  const rt = runtime(lab, router);
  const asn = lab.topology.routers.find((r) => r.name === router)!.asNumber;
  switch (rt.daemon) {
    case 'bird': {
      const conf = readFileSync(rt.configPath, 'utf8');
      const line = `  route ${prefix} blackhole;\n`;
      if (!conf.includes(line)) throw new Error(`BIRD config of "${router}" does not originate ${prefix}`);
      writeFileSync(rt.configPath, conf.replace(line, ''));
      const r = await run(birdcArgv(rt, 'configure'));
      if (!/Reconfigur/.test(r.stdout)) throw new Error(`birdc configure on "${router}": ${r.stdout}`);
      return;
    }
    case 'frr': {
      const r = await run(
        vtyshArgv(
          rt,
          'configure terminal',
          `router bgp ${asn}`,
          `address-family ipv${fam(prefix)} unicast`,
          `no network ${prefix}`,
        ),
      );
      if (r.stdout.trim()) throw new Error(`vtysh no network ${prefix} on "${router}": ${r.stdout}`);
      return;
    }
    case 'gobgp':
      await run(gobgpArgv(rt, 'global', 'rib', 'del', '-a', `ipv${fam(prefix)}`, prefix));
      return;
  }
}

/**
 * Shuts the router's session to `peer` down (Cease, administrative shutdown) or lets it come back:
 * `birdc disable|enable <protocol>`, vtysh `[no] neighbor X shutdown`, `gobgp neighbor X disable|enable`.
 */
export async function setSessionEnabled(lab: Lab, router: string, peer: string, enabled: boolean): Promise<void> {
  const rt = runtime(lab, router);
  const asn = lab.topology.routers.find((r) => r.name === router)!.asNumber;
  switch (rt.daemon) {
    case 'bird': {
      const proto = rt.peers.find((p) => p.address === peer)?.protocol;
      if (!proto) throw new Error(`BIRD router "${router}" has no session to ${peer}`);
      await run(birdcArgv(rt, enabled ? 'enable' : 'disable', proto));
      return;
    }
    case 'frr': {
      const r = await run(
        vtyshArgv(rt, 'configure terminal', `router bgp ${asn}`, `${enabled ? 'no ' : ''}neighbor ${peer} shutdown`),
      );
      if (r.stdout.trim()) throw new Error(`vtysh neighbor ${peer} shutdown on "${router}": ${r.stdout}`);
      return;
    }
    case 'gobgp':
      await run(gobgpArgv(rt, 'neighbor', peer, enabled ? 'enable' : 'disable'));
      return;
  }
}

/** UPDATE messages the router has received from `peer` (BIRD: import updates of the session's channels). */
export async function updatesReceived(lab: Lab, router: string, peer: string): Promise<number> {
  const rt = runtime(lab, router);
  switch (rt.daemon) {
    case 'bird': {
      const proto = rt.peers.find((p) => p.address === peer)?.protocol;
      if (!proto) throw new Error(`BIRD router "${router}" has no session to ${peer}`);
      const r = await run(birdcArgv(rt, 'show', 'protocols', 'all', proto));
      return [...r.stdout.matchAll(/Import updates:\s+(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    }
    case 'frr': {
      const r = await run(vtyshArgv(rt, `show bgp neighbors ${peer} json`));
      const j = JSON.parse(r.stdout) as Record<string, { messageStats?: { updatesRecv?: number } }>;
      return j[peer]?.messageStats?.updatesRecv ?? 0;
    }
    case 'gobgp': {
      const r = await run(gobgpArgv(rt, 'neighbor', peer, '-j'));
      const j = JSON.parse(r.stdout) as { state?: { messages?: { received?: { update?: number } } } };
      return j.state?.messages?.received?.update ?? 0;
    }
  }
}

/**
 * Asks the router to send a ROUTE-REFRESH to `peer` (RFC 2918): `birdc reload in <protocol>`,
 * vtysh `clear bgp ipvX unicast P soft in`. (GoBGP's `softresetin` re-filters locally and sends none.)
 */
export async function requestRefresh(lab: Lab, router: string, peer: string): Promise<void> {
  const rt = runtime(lab, router);
  switch (rt.daemon) {
    case 'bird': {
      const proto = rt.peers.find((p) => p.address === peer)?.protocol;
      if (!proto) throw new Error(`BIRD router "${router}" has no session to ${peer}`);
      await run(birdcArgv(rt, 'reload', 'in', proto));
      return;
    }
    case 'frr':
      await run(vtyshArgv(rt, `clear bgp ipv${fam(peer)} unicast ${peer} soft in`));
      return;
    case 'gobgp':
      throw new Error('GoBGP sends no ROUTE-REFRESH on request');
  }
}

/** BIRD: trace the packets of the session to `peer` into the router's log; returns the protocol name. */
export async function birdTracePackets(lab: Lab, router: string, peer: string): Promise<string> {
  const rt = runtime(lab, router);
  const proto = rt.peers.find((p) => p.address === peer)?.protocol;
  if (rt.daemon !== 'bird' || !proto) throw new Error(`"${router}" is not a BIRD router with a session to ${peer}`);
  await run(birdcArgv(rt, 'debug', proto, 'all'));
  return proto;
}

/** The daemon's log so far (BIRD logs to stderr, which the lab writes to this file). */
export function routerLog(lab: Lab, router: string): string {
  return readFileSync(runtime(lab, router).logPath, 'utf8');
}

/** Runs birdc on the router's control socket, in its namespace; throws on failure. */
export async function birdc(lab: Lab, router: string, ...cmd: string[]): Promise<string> {
  const rt = runtime(lab, router);
  const r = await lab.exec(router, birdcArgv(rt, ...cmd), { timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`birdc ${cmd.join(' ')} on "${router}" failed: ${r.stderr.trim() || r.stdout}`);
  return r.stdout;
}

/** Runs vtysh commands against the router's bgpd, in its namespace; throws on failure. */
export async function vtysh(lab: Lab, router: string, ...cmds: string[]): Promise<string> {
  const rt = runtime(lab, router);
  const r = await lab.exec(router, vtyshArgv(rt, ...cmds), { timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`vtysh ${cmds.join('; ')} on "${router}" failed: ${r.stderr.trim() || r.stdout}`);
  return r.stdout;
}

/** A path as a route reflector's client sees it: next hop, ORIGINATOR_ID, CLUSTER_LIST. */
export interface ReflectedPath {
  readonly prefix: string;
  readonly nextHop?: string | undefined;
  readonly originatorId?: string | undefined;
  readonly clusterList: readonly string[];
}

/** `birdc show route for P all` → the best (or only) path's RFC 4456 attributes, or undefined when there is none. */
export function parseBirdRoute(text: string, prefix: string): ReflectedPath | undefined {
  const at = text.indexOf(prefix);
  if (at < 0) return undefined;
  const lines = text.slice(at).split('\n');
  let originatorId: string | undefined;
  let clusterList: string[] = [];
  let nextHop: string | undefined;
  for (const [i, line] of lines.entries()) {
    // the next path (indented head line) or the next prefix ends the first path's block
    if (i > 0 && /^\S/.test(line)) break;
    if (i > 0 && /^\s+\w+ \[\S+.*\]/.test(line) && !line.includes(':')) break;
    const m = /^\s+BGP\.(\w+):\s*(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'originator_id') originatorId = m[2]!.trim();
    else if (m[1] === 'cluster_list') clusterList = m[2]!.trim().split(/\s+/).filter(Boolean);
    else if (m[1] === 'next_hop') nextHop = m[2]!.trim().split(/\s+/)[0];
  }
  return { prefix, nextHop, originatorId, clusterList };
}

export async function birdRoute(lab: Lab, router: string, prefix: string): Promise<ReflectedPath | undefined> {
  const rt = runtime(lab, router);
  const r = await lab.exec(router, birdcArgv(rt, 'show', 'route', 'for', prefix, 'all'), { timeoutMs: 5000 });
  if (r.stdout.includes('Network not found')) return undefined;
  if (r.code !== 0) throw new Error(`birdc show route for ${prefix} on "${router}" failed: ${r.stderr || r.stdout}`);
  return parseBirdRoute(r.stdout, prefix);
}

interface FrrReflectedPath {
  bestpath?: { overall?: boolean };
  originatorId?: string;
  clusterList?: { list?: string[] } | string[];
  nexthops?: { ip?: string }[];
}

/** `show bgp ipv4 unicast P json` → the best path's RFC 4456 attributes, or undefined. */
export function parseFrrRoute(json: string, prefix: string): ReflectedPath | undefined {
  const j = JSON.parse(json || '{}') as { paths?: FrrReflectedPath[] };
  const paths = j.paths ?? [];
  const best = paths.find((p) => p.bestpath?.overall) ?? paths[0];
  if (!best) return undefined;
  const cl = best.clusterList;
  return {
    prefix,
    nextHop: best.nexthops?.[0]?.ip,
    originatorId: best.originatorId,
    clusterList: Array.isArray(cl) ? cl : (cl?.list ?? []),
  };
}

export async function frrRoute(lab: Lab, router: string, prefix: string): Promise<ReflectedPath | undefined> {
  return parseFrrRoute(await vtysh(lab, router, `show bgp ipv4 unicast ${prefix} json`), prefix);
}

/** The route's RFC 4456 view on a BIRD or FRR router of the lab, by its daemon. */
export function routeOn(lab: Lab, router: string, prefix: string): Promise<ReflectedPath | undefined> {
  return runtime(lab, router).daemon === 'frr' ? frrRoute(lab, router, prefix) : birdRoute(lab, router, prefix);
}
