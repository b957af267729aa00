/**
 * BGPPeer: a peering rule (crds.md §3). Which nodes peer: `node`, or `nodeSelector`, or every node when
 * neither is set. With whom: `peerIP` + `asNumber` (one remote speaker), or `peerSelector` (every Caracal
 * node matching, with that node's own addresses and AS: route-reflector topologies).
 *
 * Timers are whole seconds. `holdTimeSec` is what we propose in OPEN (RFC 4271 §4.2: 0 or at least 3);
 * `keepaliveTimeSec` defaults to a third of the negotiated hold time (§4.4, `effectiveKeepaliveTimeSec()`).
 */
import { z } from 'zod';
import { addIssue, asNumber, ipAddress, objectName, seconds, secretKeyRef, selector } from './fields.js';
import { type IpAddress, tryParseIp } from './ip.js';
import { ObjectMeta } from './meta.js';
import { CARACAL_API_VERSION, checkScope, typeMeta } from './resource.js';

export interface PeerAddress {
  readonly ip: IpAddress;
  /** TCP port when the text gave one (`1.2.3.4:1790`, `[fd00::1]:1790`); otherwise the peer's listen port. */
  readonly port?: number;
}

/** Parse `peerIP`: an address, `a.b.c.d:port` or `[v6]:port`. The reason on failure reads as a message tail. */
export function parsePeerAddress(text: string): { ok: true; value: PeerAddress } | { ok: false; reason: string } {
  let host = text;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return { ok: false, reason: 'a "[" must be closed by "]" before the port' };
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return { ok: false, reason: 'after "]" comes ":" and a port' };
      portText = rest.slice(1);
    }
    if (!host.includes(':')) return { ok: false, reason: 'brackets are for IPv6 addresses' };
  } else if (text.split(':').length === 2) {
    [host, portText] = text.split(':') as [string, string];
  }
  const ip = tryParseIp(host);
  if (!ip.ok) return { ok: false, reason: ip.reason };
  if (portText === undefined) return { ok: true, value: { ip: ip.value } };
  const port = /^[1-9][0-9]{0,4}$/.test(portText) ? Number(portText) : 0;
  if (port < 1 || port > 65_535) return { ok: false, reason: `port "${portText}" must be from 1 to 65535` };
  return { ok: true, value: { ip: ip.value, port } };
}

export const BGPPeerSpec = z
  .object({
    node: objectName.optional().describe('Only this node creates the peering'),
    nodeSelector: selector
      .optional()
      .describe('Nodes matching this selector create the peering; with neither node nor nodeSelector, every node does'),
    peerIP: z
      .string()
      .max(64)
      .superRefine((s, ctx) => {
        const r = parsePeerAddress(s);
        if (!r.ok)
          addIssue(
            ctx,
            [],
            `must be an IP address, optionally with a port (1.2.3.4:1790, [fd00::1]:1790): ${r.reason}`,
            s,
          );
      })
      .optional()
      .describe('Address of the remote speaker, optionally with a port: 192.0.2.1, 192.0.2.1:1790, [fd00::1]:1790'),
    asNumber: asNumber.optional().describe('AS of the remote speaker (4-octet, RFC 6793); required with peerIP'),
    localASNumber: asNumber.optional().describe("Our AS on this session instead of the node's"),
    peerSelector: selector
      .optional()
      .describe(
        'Peer with every node matching this selector, at its BGP addresses and with its AS (instead of peerIP)',
      ),
    reversePeering: z
      .enum(['Auto', 'Manual'])
      .default('Auto')
      .describe('Auto: the matching nodes peer back automatically (peerSelector); Manual: another BGPPeer must say so'),
    nextHopMode: z
      .enum(['Auto', 'Self', 'Keep'])
      .default('Auto')
      .describe('Next hop of routes sent: Auto (RFC 4271 rules), Self (always ours), Keep (never change it)'),
    password: secretKeyRef.optional().describe('TCP-MD5 password for this session'),
    sourceAddress: z
      .enum(['UseNodeIP', 'None'])
      .default('UseNodeIP')
      .describe("UseNodeIP: connect from the node's BGP address; None: let the kernel choose"),
    holdTimeSec: seconds(65_535)
      .default(90)
      .describe('Hold time proposed in OPEN, in seconds: 0 (no keepalives) or at least 3 (RFC 4271 §4.2)'),
    keepaliveTimeSec: seconds(21_845)
      .optional()
      .describe('Keepalive interval in seconds; defaults to a third of the negotiated hold time (RFC 4271 §4.4)'),
    maxRestartTimeSec: seconds(4095)
      .default(120)
      .describe('Graceful-restart time we advertise, 0-4095 s (RFC 4724 §3)'),
    numAllowedLocalASNumbers: z
      .number()
      .int()
      .min(0)
      .max(10)
      .optional()
      .describe('Accept routes whose AS path has our AS this many times (weakens loop prevention)'),
    ttlSecurity: z
      .number()
      .int()
      .min(1)
      .max(255)
      .optional()
      .describe('GTSM (RFC 5082): the peer is at most this many hops away'),
    reachableBy: ipAddress()
      .optional()
      .describe('Gateway to reach the peer through; a static route to the peer is added via it'),
    filters: z.array(objectName).max(64).optional().describe('BGP filters applied to this peering, in order'),
  })
  .superRefine((spec, ctx) => {
    if (spec.peerIP === undefined && spec.peerSelector === undefined) {
      addIssue(ctx, [], 'must set peerIP (with asNumber) or peerSelector');
    }
    if (spec.peerIP !== undefined && spec.peerSelector !== undefined) {
      addIssue(
        ctx,
        ['peerSelector'],
        'must be unset when peerIP is set: a peering names one or the other',
        spec.peerSelector,
      );
    }
    if (spec.peerIP !== undefined && spec.asNumber === undefined) {
      addIssue(ctx, ['asNumber'], 'is required when peerIP is set');
    }
    if (spec.peerSelector !== undefined && spec.asNumber !== undefined) {
      addIssue(
        ctx,
        ['asNumber'],
        'must be unset with peerSelector: each matching node brings its own AS',
        spec.asNumber,
      );
    }
    if (spec.node !== undefined && spec.nodeSelector !== undefined) {
      addIssue(ctx, ['nodeSelector'], 'must be unset when node is set', spec.nodeSelector);
    }
    if (spec.holdTimeSec !== 0 && spec.holdTimeSec < 3) {
      addIssue(ctx, ['holdTimeSec'], 'must be 0 or at least 3 (RFC 4271 §4.2)', spec.holdTimeSec);
    }
    if (spec.keepaliveTimeSec !== undefined) {
      if (spec.holdTimeSec === 0 && spec.keepaliveTimeSec !== 0) {
        addIssue(ctx, ['keepaliveTimeSec'], 'must be 0 when holdTimeSec is 0 (RFC 4271 §4.4)', spec.keepaliveTimeSec);
      } else if (spec.holdTimeSec !== 0 && spec.keepaliveTimeSec >= spec.holdTimeSec) {
        addIssue(
          ctx,
          ['keepaliveTimeSec'],
          `must be less than holdTimeSec (${spec.holdTimeSec})`,
          spec.keepaliveTimeSec,
        );
      }
    }
    if (spec.peerIP !== undefined && spec.reachableBy !== undefined) {
      const peer = parsePeerAddress(spec.peerIP);
      const via = tryParseIp(spec.reachableBy);
      if (peer.ok && via.ok && peer.value.ip.family !== via.value.family) {
        addIssue(ctx, ['reachableBy'], 'must be of the same address family as peerIP', spec.reachableBy);
      }
    }
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: 'has(self.peerIP) != has(self.peerSelector)', message: 'set exactly one of peerIP and peerSelector' },
      { rule: '!has(self.peerIP) || has(self.asNumber)', message: 'asNumber is required when peerIP is set' },
      { rule: '!(has(self.node) && has(self.nodeSelector))', message: 'set at most one of node and nodeSelector' },
      { rule: 'self.holdTimeSec == 0 || self.holdTimeSec >= 3', message: 'holdTimeSec must be 0 or at least 3' },
    ],
  })
  .describe('Who peers with whom, and how');
export type BGPPeerSpec = z.infer<typeof BGPPeerSpec>;

/** Keepalive interval for a negotiated hold time: the configured value, else a third (RFC 4271 §4.4). */
export function effectiveKeepaliveTimeSec(
  spec: Pick<BGPPeerSpec, 'keepaliveTimeSec'>,
  negotiatedHoldSec: number,
): number {
  if (negotiatedHoldSec === 0) return 0;
  return Math.min(spec.keepaliveTimeSec ?? Math.floor(negotiatedHoldSec / 3), negotiatedHoldSec - 1);
}

export const BGPPeer = z
  .object({
    ...typeMeta(CARACAL_API_VERSION, 'BGPPeer'),
    metadata: ObjectMeta,
    spec: BGPPeerSpec,
  })
  .superRefine(checkScope('BGPPeer', false))
  .describe('A BGP peering rule');
export type BGPPeer = z.infer<typeof BGPPeer>;
export type BGPPeerInput = z.input<typeof BGPPeer>;
