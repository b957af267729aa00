/**
 * The lab topology: one zod schema for the YAML that `caracal lab up` reads, and `parseTopology()`, which
 * validates it (shape first, then cross-references) and reports every problem with its path
 * (`links[2].b: unknown endpoint "tor2"`). The result is normalised: arrays default to empty, pod addresses
 * carry their /32 or /128, link addresses are always lists, and each link says which kind it is.
 *
 * This module is pure (no I/O); `lab.ts` turns a parsed topology into namespaces, veths and daemons.
 * The format is documented in docs/design/lab.md.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CaracalError, describeError } from '../common/errors.js';
import { hasHostBits, type IpFamily, tryParseCidr, tryParseIp } from '../model/ip.js';

// ---------------------------------------------------------------------------------------------------------
// Addresses: the lab's view (address kept as written) on model/ip.ts, which does the parsing.

export type Family = IpFamily;

export interface ParsedCidr {
  readonly family: Family;
  readonly address: string; // as written, without the prefix length
  readonly prefixLen: number;
  readonly value: bigint; // the address as an integer
}

/** The integer value of an IPv4 or IPv6 address; undefined when `s` is not one. */
export function ipValue(s: string): { family: Family; value: bigint } | undefined {
  const r = tryParseIp(s);
  return r.ok ? { family: r.value.family, value: r.value.value } : undefined;
}

/** Parses `addr/len`; undefined when it is not a valid CIDR. */
export function parseCidr(s: string): ParsedCidr | undefined {
  const r = tryParseCidr(s);
  if (!r.ok) return undefined;
  const { family, address, prefixLen } = r.value;
  return { family, address: s.slice(0, s.indexOf('/')), prefixLen, value: address };
}

/** True when the host bits of the CIDR are zero (what routers accept as a network to originate). */
export function isNetworkCidr(c: ParsedCidr): boolean {
  return !hasHostBits({ family: c.family, address: c.value, prefixLen: c.prefixLen });
}

// ---------------------------------------------------------------------------------------------------------
// Schema

/** Names become parts of namespace names, file paths and (shortened) interface names. */
export const NAME_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
export const NAME_MAX = 32;
const Name = z
  .string()
  .max(NAME_MAX, `must be at most ${NAME_MAX} characters`)
  .regex(NAME_RE, 'must be lowercase letters, digits and "-", starting and ending with a letter or digit');

const AsNumber = z.number().int().min(1).max(4_294_967_295).describe('AS number; 4-octet per RFC 6793');

const Cidr = z.string().refine((s) => parseCidr(s) !== undefined, 'must be an address with a prefix length (CIDR)');
const Ip = z.string().refine((s) => ipValue(s) !== undefined, 'must be an IPv4 or IPv6 address');
/** One CIDR or a list; always a list after parsing. (A preprocess, not a union: unions lose the message.) */
const CidrList = z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(Cidr));

/** A pod address: a bare address or a /32 (/128); always stored with the prefix length. */
const PodIp = z
  .string()
  .transform((s, ctx) => {
    const withLen = s.includes('/') ? s : `${s}/${ipValue(s)?.family === 6 ? 128 : 32}`;
    const c = parseCidr(withLen);
    if (!c) ctx.addIssue({ code: 'custom', message: `must be an IPv4 or IPv6 address: current value is "${s}"` });
    else if (c.prefixLen !== (c.family === 4 ? 32 : 128))
      ctx.addIssue({ code: 'custom', message: `must be a /32 or /128 address: current value is "${s}"` });
    return withLen;
  })
  .describe('Pod address, /32 or /128 (Calico style)');

export const NodeSpec = z.strictObject({
  name: Name,
  asNumber: AsNumber.optional().describe('AS of the node speaker (used once the speaker runs in labs)'),
  loopback: CidrList.default([]).describe('Addresses put on lo'),
});

export const PodSpec = z.strictObject({
  name: Name,
  node: Name.describe('The node the pod is wired to'),
  ip: z
    .preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(PodIp).min(1).max(2))
    .describe('One address or a list (one IPv4 and/or one IPv6)'),
});

/** TCP MD5 keys are at most 80 bytes (RFC 2385); quotes and spaces would break the generated configs. */
const Password = z
  .string()
  .min(1)
  .max(80)
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be printable ASCII without spaces, quotes or backslashes');

export const PeerSpec = z.strictObject({
  address: Ip,
  asNumber: AsNumber,
  password: Password.optional().describe('TCP MD5 key (RFC 2385)'),
  passive: z.boolean().default(false).describe('Wait for the peer to connect'),
  holdTimeSec: z
    .number()
    .int()
    .refine((s) => s === 0 || (s >= 3 && s <= 65_535), 'must be 0 or between 3 and 65535 (RFC 4271 §4.2)')
    .default(9)
    .describe('Hold time proposed in OPEN; short so that labs notice failures quickly'),
});

export const DAEMONS = ['bird', 'frr', 'gobgp'] as const;
export type Daemon = (typeof DAEMONS)[number];

export const RouterSpec = z.strictObject({
  name: Name,
  daemon: z.enum(DAEMONS),
  asNumber: AsNumber,
  routerId: z
    .string()
    .refine((s) => ipValue(s)?.family === 4, 'must be an IPv4 address')
    .optional()
    .describe('Defaults to the first IPv4 address of the router'),
  peers: z.array(PeerSpec).default([]),
  networks: z.array(Cidr).default([]).describe('Prefixes the router originates'),
  loopback: CidrList.default([]),
  extraConfig: z.string().optional().describe('Appended verbatim to the generated daemon config'),
});

/** Point-to-point (`a`, `b`) or a shared segment (`lan`, `members`): one object schema, checked below. */
const LinkInput = z
  .strictObject({
    kind: z.enum(['p2p', 'lan']).optional().describe('Implied by the fields; accepted so parsed output re-parses'),
    a: Name.optional(),
    b: Name.optional(),
    addresses: z.strictObject({ a: CidrList.default([]), b: CidrList.default([]) }).optional(),
    lan: Name.optional(),
    members: z
      .record(
        Name,
        z.preprocess((v) => v ?? [], CidrList),
      )
      .optional(),
    mtu: z.number().int().min(68).max(65_535).optional(),
  })
  .superRefine((l, ctx) => {
    const p2p = l.a !== undefined || l.b !== undefined || l.addresses !== undefined;
    const lan = l.lan !== undefined || l.members !== undefined;
    if (l.kind !== undefined && (l.kind === 'lan') !== lan)
      ctx.addIssue({
        code: 'custom',
        path: ['kind'],
        message: `does not match the fields given: current value is "${l.kind}"`,
      });
    if (p2p && lan)
      ctx.addIssue({ code: 'custom', message: 'must be either a point-to-point link (a, b) or a lan (lan, members)' });
    else if (lan) {
      if (l.lan === undefined) ctx.addIssue({ code: 'custom', path: ['lan'], message: 'required: the segment name' });
      if (!l.members || Object.keys(l.members).length === 0)
        ctx.addIssue({ code: 'custom', path: ['members'], message: 'required: at least one member' });
    } else {
      if (l.a === undefined) ctx.addIssue({ code: 'custom', path: ['a'], message: 'required' });
      if (l.b === undefined) ctx.addIssue({ code: 'custom', path: ['b'], message: 'required' });
    }
  });

export type P2pLink = {
  readonly kind: 'p2p';
  readonly a: string;
  readonly b: string;
  readonly addresses: { readonly a: readonly string[]; readonly b: readonly string[] };
  readonly mtu?: number | undefined;
};
export type LanLink = {
  readonly kind: 'lan';
  readonly lan: string;
  readonly members: Readonly<Record<string, readonly string[]>>;
  readonly mtu?: number | undefined;
};
export type LinkSpec = P2pLink | LanLink;

const Link = LinkInput.transform((l): LinkSpec => {
  if (l.lan !== undefined || l.members !== undefined)
    return { kind: 'lan', lan: l.lan ?? '', members: l.members ?? {}, mtu: l.mtu };
  return { kind: 'p2p', a: l.a ?? '', b: l.b ?? '', addresses: l.addresses ?? { a: [], b: [] }, mtu: l.mtu };
});

export const RouteSpec = z.strictObject({
  on: Name.describe('The node or router whose table gets the route'),
  dst: z.union([z.literal('default'), Cidr]).describe('"default" or a CIDR'),
  via: Ip,
  onlink: z.boolean().default(false),
});

export const EtcdSpec = z.strictObject({
  on: Name.optional().describe('Run inside this node or router; the host namespace when unset'),
  clientPort: z.number().int().min(1).max(65_535).optional(),
});

/**
 * The shape of a topology file. Cross-references (unknown endpoints, duplicate names and addresses) are
 * checked by `checkTopology()` once the shape is right; `parseTopology()` does both.
 */
export const TopologySchema = z.strictObject({
  name: Name.describe('Lab name: prefix of every namespace, unique among the labs that are up'),
  nodes: z.array(NodeSpec).default([]),
  pods: z.array(PodSpec).default([]),
  routers: z.array(RouterSpec).default([]),
  links: z.array(Link).default([]),
  routes: z.array(RouteSpec).default([]),
  etcd: z
    .union([z.boolean(), EtcdSpec])
    .optional()
    .transform((v) => (v === true ? {} : v === false || v === undefined ? undefined : v)),
});

export type Topology = z.output<typeof TopologySchema>;
export type NodeSpec = z.output<typeof NodeSpec>;
export type PodSpec = z.output<typeof PodSpec>;
export type PeerSpec = z.output<typeof PeerSpec>;
export type RouterSpec = z.output<typeof RouterSpec>;
export type RouteSpec = z.output<typeof RouteSpec>;
export type EtcdSpec = z.output<typeof EtcdSpec>;

// ---------------------------------------------------------------------------------------------------------
// Cross-reference checks

type Path = (string | number)[];

export interface TopologyIssue {
  readonly path: Path;
  readonly message: string;
}

/** Cross-reference checks on a topology whose shape is valid. Pure; returns every problem found. */
export function checkTopology(t: Topology): TopologyIssue[] {
  const issues: TopologyIssue[] = [];
  const issue = (path: Path, message: string) => {
    issues.push({ path, message });
  };

  // One namespace of names: nodes, pods, routers and lans all become network namespaces.
  const owner = new Map<string, string>();
  const claim = (name: string, path: Path) => {
    const prev = owner.get(name);
    if (prev) issue(path, `"${name}" is already used by ${prev}`);
    else owner.set(name, formatPath(path.slice(0, -1)));
  };
  t.nodes.forEach((n, i) => {
    claim(n.name, ['nodes', i, 'name']);
  });
  t.routers.forEach((r, i) => {
    claim(r.name, ['routers', i, 'name']);
  });
  t.pods.forEach((p, i) => {
    claim(p.name, ['pods', i, 'name']);
  });
  t.links.forEach((l, i) => {
    if (l.kind === 'lan') claim(l.lan, ['links', i, 'lan']);
  });

  const nodes = new Set(t.nodes.map((n) => n.name));
  const endpoints = new Set([...nodes, ...t.routers.map((r) => r.name)]);
  const endpointRef = (name: string, path: Path) => {
    if (!endpoints.has(name)) issue(path, `unknown endpoint "${name}": must be a node or router`);
  };

  const podIps = new Map<string, string>();
  t.pods.forEach((p, i) => {
    if (!nodes.has(p.node)) issue(['pods', i, 'node'], `unknown node "${p.node}"`);
    const fams = new Set<Family>();
    p.ip.forEach((ip, j) => {
      const c = parseCidr(ip);
      if (!c) return;
      const path: Path = p.ip.length > 1 ? ['pods', i, 'ip', j] : ['pods', i, 'ip'];
      if (fams.has(c.family)) issue(path, `more than one IPv${c.family} address`);
      fams.add(c.family);
      const key = `${c.family}/${c.value}`;
      const prev = podIps.get(key);
      if (prev) issue(path, `${ip} is already used by ${prev}`);
      else podIps.set(key, `pods[${i}]`);
    });
  });

  // Addresses per endpoint: used for router ids and to check that peers and routes make sense.
  const v4Of = new Map<string, string[]>();
  const addAddr = (who: string, cidr: string) => {
    const c = parseCidr(cidr);
    if (c?.family === 4) v4Of.set(who, [...(v4Of.get(who) ?? []), c.address]);
  };
  for (const n of t.nodes)
    n.loopback.forEach((a) => {
      addAddr(n.name, a);
    });
  for (const r of t.routers)
    r.loopback.forEach((a) => {
      addAddr(r.name, a);
    });

  t.links.forEach((l, i) => {
    if (l.kind === 'p2p') {
      endpointRef(l.a, ['links', i, 'a']);
      endpointRef(l.b, ['links', i, 'b']);
      if (l.a === l.b) issue(['links', i, 'b'], `must differ from a: both are "${l.a}"`);
      l.addresses.a.forEach((a) => {
        addAddr(l.a, a);
      });
      l.addresses.b.forEach((a) => {
        addAddr(l.b, a);
      });
    } else {
      for (const [m, addrs] of Object.entries(l.members)) {
        endpointRef(m, ['links', i, 'members', m]);
        addrs.forEach((a) => {
          addAddr(m, a);
        });
      }
    }
  });

  t.routers.forEach((r, i) => {
    if (r.routerId === undefined && !v4Of.get(r.name)?.length)
      issue(['routers', i, 'routerId'], 'required: the router has no IPv4 address to take it from');
    const seen = new Set<string>();
    r.peers.forEach((p, j) => {
      const v = ipValue(p.address);
      const key = v ? `${v.family}/${v.value}` : p.address;
      if (seen.has(key)) issue(['routers', i, 'peers', j, 'address'], `duplicate peer ${p.address}`);
      seen.add(key);
    });
    r.networks.forEach((n, j) => {
      const c = parseCidr(n);
      if (c && !isNetworkCidr(c))
        issue(['routers', i, 'networks', j], `must have no host bits set: current value is ${n}`);
    });
  });

  t.routes.forEach((r, i) => {
    endpointRef(r.on, ['routes', i, 'on']);
    const via = ipValue(r.via);
    const dst = r.dst === 'default' ? undefined : parseCidr(r.dst);
    if (dst && !isNetworkCidr(dst))
      issue(['routes', i, 'dst'], `must have no host bits set: current value is ${r.dst}`);
    if (dst && via && dst.family !== via.family)
      issue(['routes', i, 'via'], `must be IPv${dst.family} like dst: current value is ${r.via}`);
  });

  if (t.etcd?.on !== undefined) endpointRef(t.etcd.on, ['etcd', 'on']);
  return issues;
}

/** `['links', 2, 'b']` → `links[2].b`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(top level)';
}

/** Validates a topology given as an object (already parsed YAML or JSON). Throws LAB_INVALID. */
export function parseTopology(input: unknown, source = 'topology'): Topology {
  const r = TopologySchema.safeParse(input);
  const issues = r.success ? checkTopology(r.data) : r.error.issues;
  if (r.success && issues.length === 0) return r.data;
  const problems = issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
  throw new CaracalError('LAB_INVALID', `Cannot load lab ${source}: ${problems.join('; ')}`, {
    details: { source, problems },
  });
}

/** Parses YAML text, then validates it. */
export function parseTopologyYaml(text: string, source = 'topology'): Topology {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new CaracalError('LAB_INVALID', `Cannot load lab ${source}: not valid YAML: ${describeError(e)}`, {
      cause: e,
      details: { source },
    });
  }
  return parseTopology(doc, source);
}

// ---------------------------------------------------------------------------------------------------------
// Derived facts the builder and the router launchers both need

/** Every address an endpoint (node or router) gets from links and loopbacks, in declaration order. */
export function endpointAddresses(t: Topology, name: string): string[] {
  const out: string[] = [];
  for (const l of t.links) {
    if (l.kind === 'p2p') {
      if (l.a === name) out.push(...l.addresses.a);
      if (l.b === name) out.push(...l.addresses.b);
    } else out.push(...(l.members[name] ?? []));
  }
  const ep = t.nodes.find((n) => n.name === name) ?? t.routers.find((r) => r.name === name);
  if (ep) out.push(...ep.loopback);
  return out;
}

/** The router id: configured, or the first IPv4 address of the router (validation guarantees one exists). */
export function routerIdOf(t: Topology, r: RouterSpec): string {
  if (r.routerId) return r.routerId;
  for (const a of endpointAddresses(t, r.name)) {
    const c = parseCidr(a);
    if (c?.family === 4) return c.address;
  }
  throw new CaracalError('LAB_INVALID', `Cannot pick a router id for "${r.name}": it has no IPv4 address`);
}
