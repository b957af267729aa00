/**
 * A pod's network plumbing, over rtnetlink (kernel/netlink) with no `ip` process: one veth pair created in a
 * single RTM_NEWLINK whose peer lands in the pod's namespace as `eth0` (IFLA_NET_NS_FD); the host end `cali…`
 * with the fixed MAC ee:ee:ee:ee:ee:ee and proxy ARP; in the pod the /32 and /128 addresses, a default route
 * via the link-local gateway 169.254.1.1 (IPv6: fe80::ecee:eeff:feee:eeee, the host end's link-local address)
 * and a permanent neighbour entry for each gateway; on the host a route to each pod address via the veth.
 *
 * Why the permanent neighbour entry: proxy ARP answers for 169.254.1.1 only when the node itself has a route
 * to it through another interface (environment.md §4 hit this), so a node without a default route would
 * leave its pods unreachable. The pod never needs to ARP for its gateway; proxy ARP stays on as a fallback
 * (a pod that flushes its neighbour table, say).
 *
 * Ownership: the host veth's alias is `caracal:<containerID>`; DEL deletes the veth only when the alias names
 * its container (or is missing), so a late DEL of an old sandbox never tears down the new one that reuses the
 * pod's interface name. Deleting the host end deletes the pair and the host routes through it.
 *
 * Hazards: the pod-side socket is opened with the thread inside the pod's namespace (kernel/netns.ts) and
 * everything here is synchronous, so no other work runs while the thread is switched.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { type NetlinkMessage, type Route, RouteScope, RouteTable, RouteType } from '../kernel/netlink/codec.js';
import {
  decodeLink,
  encodeDelLink,
  encodeGetLink,
  encodeNewAddr,
  encodeNewNeigh,
  encodeNewVeth,
  encodeSetLink,
  IfFlag,
  type Link,
  LinkMsgType,
} from '../kernel/netlink/link-codec.js';
import { Errno, getLink, type LinkRequest, listAddrs, routeRequest, runBatch } from '../kernel/netlink/links.js';
import { NetlinkSocket } from '../kernel/netlink/socket.js';
import { closeFd, ENOENT, openNetns, withNetns } from '../kernel/netns.js';
import { CniCode, CniError } from './errors.js';

export const HOST_VETH_PREFIX = 'cali';
export const HOST_VETH_MAC = 'ee:ee:ee:ee:ee:ee';
export const GATEWAY_V4 = '169.254.1.1';
/** The EUI-64 link-local address of HOST_VETH_MAC: the host end answers for it without any proxying. */
export const GATEWAY_V6 = 'fe80::ecee:eeff:feee:eeee';
/** rtm_protocol of the host routes to pods: "boot" (what `ip route add` uses); felix's own routes replace them. */
export const HOST_ROUTE_PROTOCOL = 3;
const IFNAMSIZ_MAX = 15;

export interface PodPlumbing {
  containerId: string;
  netnsPath: string;
  hostIfname: string;
  podIfname: string;
  mtu: number;
  /** The pod's addresses (no prefix length: they become /32 and /128). */
  ipv4?: string | undefined;
  ipv6?: string | undefined;
}

export interface Plumbed {
  hostMac: string;
  podMac: string;
}

export const aliasOf = (containerId: string) => `caracal:${containerId}`;

/**
 * `cali` + 11 hex characters of SHA-1 over `<namespace>.<pod>` (with `.<ifname>` for interfaces other than
 * eth0): 15 characters, stable across restarts of the pod's sandbox, and the scheme Calico uses.
 */
export function hostVethName(namespace: string, pod: string, ifname: string): string {
  const key = ifname === 'eth0' ? `${namespace}.${pod}` : `${namespace}.${pod}.${ifname}`;
  return (
    HOST_VETH_PREFIX +
    createHash('sha1')
      .update(key)
      .digest('hex')
      .slice(0, IFNAMSIZ_MAX - HOST_VETH_PREFIX.length)
  );
}

/** A random locally administered unicast MAC, so the result can report it without reading it back. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function dataplaneError(e: unknown, what: string): CniError {
  if (e instanceof CniError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new CniError(CniCode.Dataplane, `Cannot ${what}: ${msg}`);
}

function openPodNetns(path: string, command: string): number {
  try {
    return openNetns(path);
  } catch (e) {
    const errno = (e as { details?: { errno?: number } }).details?.errno;
    if (errno === ENOENT)
      throw new CniError(CniCode.ContainerUnknown, `Cannot ${command}: the network namespace "${path}" does not exist`);
    throw dataplaneError(e, `${command}: open the network namespace "${path}"`);
  }
}

function writeSysctl(path: string, value: string, optional = false): void {
  if (optional && !existsSync(path)) return;
  writeFileSync(path, value);
}

const hostRoute = (family: 4 | 6, dst: string, oif: number): Route => ({
  family,
  dst,
  prefixLen: family === 4 ? 32 : 128,
  table: RouteTable.Main,
  protocol: HOST_ROUTE_PROTOCOL,
  scope: RouteScope.Link,
  type: RouteType.Unicast,
  oif,
  flags: 0,
});

/** Create the veth pair, addresses, routes and neighbour entries. Throws CniError; leaves a half-built pair
 * behind only for `tearDown` to remove (the caller runs it on failure). */
export function setUp(p: PodPlumbing): Plumbed {
  const podMac = randomMac();
  const fd = openPodNetns(p.netnsPath, 'add the pod network');
  let host: NetlinkSocket | undefined;
  let pod: NetlinkSocket | undefined;
  try {
    host = NetlinkSocket.open();
    pod = withNetns(fd, () => NetlinkSocket.open());
    const create: LinkRequest = {
      what: `create veth ${p.hostIfname} with ${p.podIfname} in ${p.netnsPath}`,
      encode: (s) =>
        encodeNewVeth(
          { name: p.hostIfname, mac: HOST_VETH_MAC, mtu: p.mtu },
          { name: p.podIfname, mac: podMac, mtu: p.mtu, netnsFd: fd },
          s,
        ),
    };
    try {
      runBatch(host, [create]);
    } catch (e) {
      if ((e as { details?: { errno?: number } }).details?.errno !== Errno.EEXIST) throw e;
      // A leftover of an earlier sandbox of this pod (its DEL never came): replace it.
      const stale = getLink(host, { name: p.hostIfname });
      if (!stale) throw e;
      runBatch(host, [
        { what: `delete stale ${p.hostIfname}`, encode: (s) => encodeDelLink({ index: stale.index }, s) },
      ]);
      runBatch(host, [create]);
    }

    // Host end: sysctls before it goes up (accept_dad must be off before the link-local address appears).
    const h = p.hostIfname;
    writeSysctl(`/proc/sys/net/ipv4/conf/${h}/proxy_arp`, '1');
    writeSysctl(`/proc/sys/net/ipv4/neigh/${h}/proxy_delay`, '0');
    writeSysctl(`/proc/sys/net/ipv6/conf/${h}/accept_dad`, '0', true);
    writeSysctl(`/proc/sys/net/ipv6/conf/${h}/accept_ra`, '0', true);
    const [, hostReplies] = runBatch(host, [
      // The alias rides on SETLINK: RTM_NEWLINK ignores IFLA_IFALIAS when it creates a link.
      {
        what: `set ${h} up`,
        encode: (s) => encodeSetLink({ name: h }, { up: true, alias: aliasOf(p.containerId) }, s),
      },
      { what: `get ${h}`, encode: (s) => encodeGetLink({ name: h }, s) },
    ]);
    const hostLink = linkFrom(hostReplies);
    if (!hostLink) throw new CniError(CniCode.Dataplane, `Cannot add the pod network: ${h} vanished after creation`);

    // Pod end.
    if (p.ipv6) withNetns(fd, () => writeSysctl(`/proc/sys/net/ipv6/conf/${p.podIfname}/disable_ipv6`, '0', true));
    const podLink = getLink(pod, { name: p.podIfname });
    if (!podLink)
      throw new CniError(CniCode.Dataplane, `Cannot add the pod network: ${p.podIfname} is not in ${p.netnsPath}`);
    const i = podLink.index;
    const podReqs: LinkRequest[] = [
      { what: `set ${p.podIfname} up`, encode: (s) => encodeSetLink({ index: i }, { up: true }, s) },
    ];
    const hostReqs: LinkRequest[] = [];
    if (p.ipv4) {
      const a = p.ipv4;
      podReqs.push(
        { what: `add ${a}/32`, encode: (s) => encodeNewAddr({ family: 4, index: i, address: a, prefixLen: 32 }, s) },
        {
          what: `add neighbour ${GATEWAY_V4}`,
          encode: (s) => encodeNewNeigh({ family: 4, index: i, dst: GATEWAY_V4, lladdr: HOST_VETH_MAC }, s),
        },
        routeRequest({ kind: 'replace', route: { ...hostRoute(4, GATEWAY_V4, i), protocol: 4 } }),
        routeRequest({
          kind: 'replace',
          route: {
            ...hostRoute(4, '0.0.0.0', i),
            prefixLen: 0,
            scope: RouteScope.Universe,
            gateway: GATEWAY_V4,
            protocol: 4,
          },
        }),
      );
      hostReqs.push(routeRequest({ kind: 'replace', route: hostRoute(4, a, hostLink.index) }));
    }
    if (p.ipv6) {
      const a = p.ipv6;
      podReqs.push(
        { what: `add ${a}/128`, encode: (s) => encodeNewAddr({ family: 6, index: i, address: a, prefixLen: 128 }, s) },
        {
          what: `add neighbour ${GATEWAY_V6}`,
          encode: (s) => encodeNewNeigh({ family: 6, index: i, dst: GATEWAY_V6, lladdr: HOST_VETH_MAC }, s),
        },
        routeRequest({
          kind: 'replace',
          route: {
            ...hostRoute(6, '::', i),
            prefixLen: 0,
            scope: RouteScope.Universe,
            gateway: GATEWAY_V6,
            protocol: 4,
          },
        }),
      );
      hostReqs.push(routeRequest({ kind: 'replace', route: hostRoute(6, a, hostLink.index) }));
    }
    runBatch(pod, podReqs);
    runBatch(host, hostReqs);
    return { hostMac: hostLink.mac ?? HOST_VETH_MAC, podMac: podLink.mac ?? podMac };
  } catch (e) {
    throw dataplaneError(e, 'add the pod network');
  } finally {
    host?.close();
    pod?.close();
    closeFd(fd);
  }
}

function linkFrom(replies: NetlinkMessage[] | undefined): Link | undefined {
  for (const m of replies ?? []) if (m.kind === 'other' && m.type === LinkMsgType.NewLink) return decodeLink(m.body);
  return undefined;
}

/**
 * Remove the pod's veth (and with it the host routes), if it is this container's. Idempotent: a missing
 * veth, a missing namespace, a half-built pair are all fine. Returns whether it deleted something.
 */
export function tearDown(containerId: string, hostIfname: string): boolean {
  let nl: NetlinkSocket | undefined;
  try {
    nl = NetlinkSocket.open();
    const link = getLink(nl, { name: hostIfname });
    if (!link) return false;
    // Another sandbox's (an empty alias: ADD stopped before it set one, so the pair is a leftover to remove).
    if (link.alias && link.alias !== aliasOf(containerId)) return false;
    runBatch(nl, [
      {
        what: `delete ${hostIfname}`,
        encode: (s) => encodeDelLink({ index: link.index }, s),
        okErrnos: [Errno.ENODEV],
      },
    ]);
    return true;
  } catch (e) {
    throw dataplaneError(e, `delete the pod network (${hostIfname})`);
  } finally {
    nl?.close();
  }
}

/** What CHECK compares against: the previous result's view of the pod. */
export interface Expected {
  containerId: string;
  netnsPath: string;
  hostIfname: string;
  podIfname: string;
  podMac?: string | undefined;
  mtu: number;
  ipv4?: string | undefined;
  ipv6?: string | undefined;
}

/** CHECK: every piece ADD made is still there; throws CniError(CheckFailed) naming the first that is not. */
export function check(x: Expected): void {
  const fail = (why: string) =>
    new CniError(CniCode.CheckFailed, `Check of ${x.containerId.slice(0, 12)} failed: ${why}`);
  const fd = openPodNetns(x.netnsPath, 'check the pod network');
  let host: NetlinkSocket | undefined;
  let pod: NetlinkSocket | undefined;
  try {
    host = NetlinkSocket.open();
    pod = withNetns(fd, () => NetlinkSocket.open());
    const h = getLink(host, { name: x.hostIfname });
    if (!h) throw fail(`host interface ${x.hostIfname} is missing`);
    if (h.alias !== aliasOf(x.containerId)) throw fail(`host interface ${x.hostIfname} belongs to "${h.alias ?? ''}"`);
    if (!(h.flags & IfFlag.Up)) throw fail(`host interface ${x.hostIfname} is down`);
    const p = getLink(pod, { name: x.podIfname });
    if (!p) throw fail(`interface ${x.podIfname} is missing in ${x.netnsPath}`);
    if (!(p.flags & IfFlag.Up)) throw fail(`interface ${x.podIfname} is down`);
    if (x.podMac && p.mac !== x.podMac) throw fail(`interface ${x.podIfname} has MAC ${p.mac}, expected ${x.podMac}`);
    if (p.mtu !== x.mtu) throw fail(`interface ${x.podIfname} has MTU ${p.mtu}, expected ${x.mtu}`);
    const addrs = listAddrs(pod, undefined, p.index);
    const hostRoutes = new Set<string>();
    for (const fam of [4, 6] as const) {
      for (const r of host.dumpRoutes(fam, { table: RouteTable.Main })) if (r.oif === h.index) hostRoutes.add(r.dst);
    }
    for (const [fam, a] of [
      [4, x.ipv4],
      [6, x.ipv6],
    ] as const) {
      if (!a) continue;
      if (!addrs.some((ad) => ad.family === fam && ad.address === a)) throw fail(`${x.podIfname} lacks address ${a}`);
      if (!hostRoutes.has(a)) throw fail(`the host has no route to ${a} via ${x.hostIfname}`);
      const gw = fam === 4 ? GATEWAY_V4 : GATEWAY_V6;
      const def = pod.dumpRoutes(fam, { table: RouteTable.Main }).find((r) => r.prefixLen === 0 && r.oif === p.index);
      if (!def || def.gateway !== gw) throw fail(`the pod has no IPv${fam} default route via ${gw}`);
    }
  } catch (e) {
    throw dataplaneError(e, 'check the pod network');
  } finally {
    host?.close();
    pod?.close();
    closeFd(fd);
  }
}
