/**
 * What the RR / GR tests read from the lab's daemons: one prefix's best path with its RFC 4456 attributes
 * (BIRD `show route for P all`: BGP.originator_id, BGP.cluster_list; FRR `show bgp ipv4 unicast P json`:
 * originatorId, clusterList), and a BIRD protocol's `show protocols all` text. Parsers are pure.
 */
import type { Lab } from '../../../lab/lab.js';
import type { RouterRuntime } from '../../../lab/routers.js';

export interface ReflectedPath {
  readonly prefix: string;
  readonly nextHop?: string | undefined;
  readonly originatorId?: string | undefined;
  readonly clusterList: readonly string[];
}

export function runtime(lab: Lab, router: string): RouterRuntime {
  const rt = lab.state.routers.find((r) => r.name === router);
  if (!rt) throw new Error(`No router "${router}" in lab "${lab.name}"`);
  return rt;
}

/** Runs birdc on the router's control socket (the socket path works from any namespace). */
export async function birdc(lab: Lab, router: string, ...cmd: string[]): Promise<string> {
  const rt = runtime(lab, router);
  const r = await lab.exec(router, ['birdc', '-s', rt.ctlSocket!, ...cmd], { timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`birdc ${cmd.join(' ')} on "${router}" failed: ${r.stderr.trim() || r.stdout}`);
  return r.stdout;
}

/** `birdc show route for P all` → the best (or only) path's attributes, or undefined when there is none. */
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
  const r = await lab.exec(router, ['birdc', '-s', rt.ctlSocket!, 'show', 'route', 'for', prefix, 'all'], {
    timeoutMs: 5000,
  });
  if (r.stdout.includes('Network not found')) return undefined;
  if (r.code !== 0) throw new Error(`birdc show route for ${prefix} on "${router}" failed: ${r.stderr || r.stdout}`);
  return parseBirdRoute(r.stdout, prefix);
}

/** Runs vtysh commands against the router's bgpd. */
export async function vtysh(lab: Lab, router: string, ...cmds: string[]): Promise<string> {
  const rt = runtime(lab, router);
  const argv = ['vtysh', '--vty_socket', rt.vtyDir!, '-d', 'bgpd', ...cmds.flatMap((c) => ['-c', c])];
  const r = await lab.exec(router, argv, { timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`vtysh ${cmds.join('; ')} on "${router}" failed: ${r.stderr.trim() || r.stdout}`);
  return r.stdout;
}

interface FrrPath {
  bestpath?: { overall?: boolean };
  originatorId?: string;
  clusterList?: { list?: string[] } | string[];
  nexthops?: { ip?: string }[];
}

/** `show bgp ipv4 unicast P json` → the best path's attributes, or undefined. */
export function parseFrrRoute(json: string, prefix: string): ReflectedPath | undefined {
  const j = JSON.parse(json || '{}') as { paths?: FrrPath[] };
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

/** The route on a BIRD or FRR router of the lab, by its daemon. */
export function routeOn(lab: Lab, router: string, prefix: string): Promise<ReflectedPath | undefined> {
  return runtime(lab, router).daemon === 'frr' ? frrRoute(lab, router, prefix) : birdRoute(lab, router, prefix);
}

/** The lab's bounded wait, with the last observed value in the failure message. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
  intervalMs = 200,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (e) {
      last = e instanceof Error ? e.message : e;
    }
    if (Date.now() > end)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** True when the test can build labs (root, `ip netns`); otherwise the reason to skip. */
export function labSkipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, BGP on port 179)';
  return false;
}
