/**
 * `caracalctl bgp peers|routes --server URL [-o table|json]`: reads a speaker's status API
 * (`GET /bgp/peers`, `GET /bgp/routes`, documented in docs/speaker.md) and prints it. The JSON output is the
 * API's own, unchanged, so scripts can rely on the same field names either way.
 */
import { CaracalError, ErrorCodes } from '../common/errors.js';
import type { BgpPeerStatus, BgpRoutesResponse } from '../model/bgp-status.js';
import { formatTable } from './resources.js';

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '-';
  const s = Math.floor(sec);
  const d = Math.floor(s / 86_400);
  const hms = [Math.floor((s % 86_400) / 3600), Math.floor((s % 3600) / 60), s % 60]
    .map((n) => String(n).padStart(2, '0'))
    .join(':');
  return d > 0 ? `${d}d ${hms}` : hms;
}

/** Like `birdc show protocols`: one line per peer. */
export function renderPeers(peers: readonly BgpPeerStatus[]): string {
  return formatTable(
    ['PEER', 'ASN', 'STATE', 'SINCE', 'RECEIVED', 'ACCEPTED', 'ADVERTISED', 'INFO'],
    peers.map((p) => [
      p.address,
      String(p.asn),
      p.state,
      formatDuration(p.uptime),
      String(p.prefixesReceived),
      String(p.prefixesAccepted),
      String(p.prefixesAdvertised),
      p.lastError ?? '',
    ]),
  );
}

export function renderRoutes(r: BgpRoutesResponse): string {
  const table = formatTable(
    ['PREFIX', 'NEXT HOP', 'AS PATH', 'LOCAL PREF', 'MED', 'PEER', 'BEST BECAUSE'],
    r.routes.map((x) => [
      x.prefix,
      x.nextHop,
      x.asPath,
      x.localPref === undefined ? '' : String(x.localPref),
      x.med === undefined ? '' : String(x.med),
      x.peer,
      x.reason,
    ]),
  );
  const shown = r.routes.length < r.count ? ` (showing ${r.routes.length}; use --limit)` : '';
  return `${table}\n\n${r.count} routes${shown}`;
}

export async function fetchJson(server: string, path: string): Promise<unknown> {
  let url: URL;
  try {
    url = new URL(path, server.endsWith('/') ? server : `${server}/`);
  } catch {
    throw new CaracalError(
      ErrorCodes.Usage,
      `Cannot read status: --server must be a URL like http://127.0.0.1:9179: current value is "${server}"`,
    );
  }
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    throw new CaracalError(
      ErrorCodes.Unavailable,
      `Cannot read ${url.href}: ${(e as Error).cause ?? (e as Error).message}`,
    );
  }
  if (!res.ok)
    throw new CaracalError(ErrorCodes.Unavailable, `Cannot read ${url.href}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}
