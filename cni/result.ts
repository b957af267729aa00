/**
 * The CNI result (spec §"Success"): interfaces (each with a MAC: podman rejects results without one), IPs
 * pointing at the sandbox interface, routes, DNS. Built once in the 1.x shape; `resultFor` converts it to the
 * version the caller asked for (0.3.x/0.4.0 add `ips[].version`).
 */
export interface CniInterface {
  name: string;
  mac?: string | undefined;
  mtu?: number | undefined;
  sandbox?: string | undefined;
}
export interface CniIp {
  /** CIDR: `10.244.1.5/32`. */
  address: string;
  gateway?: string | undefined;
  interface?: number | undefined;
}
export interface CniRoute {
  dst: string;
  gw?: string | undefined;
}
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIp[];
  routes?: CniRoute[];
  dns?: Record<string, unknown>;
}

/** The result in the shape of `cniVersion` (the configuration's). */
export function resultFor(cniVersion: string, r: Omit<CniResult, 'cniVersion'>): Record<string, unknown> {
  const out: Record<string, unknown> = { cniVersion, ...r };
  if (cniVersion.startsWith('0.')) {
    out.ips = (r.ips ?? []).map((ip) => ({ version: ip.address.includes(':') ? '6' : '4', ...ip }));
  }
  if (!out.dns) out.dns = {};
  return out;
}

/** The IPs of a previous result, whatever its version. */
export function ipsOf(prev: Record<string, unknown> | undefined): CniIp[] {
  const ips = prev?.ips;
  if (!Array.isArray(ips)) return [];
  return ips.filter((x): x is CniIp => typeof x === 'object' && x !== null && typeof x.address === 'string');
}
export function interfacesOf(prev: Record<string, unknown> | undefined): CniInterface[] {
  const ifs = prev?.interfaces;
  if (!Array.isArray(ifs)) return [];
  return ifs.filter((x): x is CniInterface => typeof x === 'object' && x !== null && typeof x.name === 'string');
}
