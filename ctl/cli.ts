/**
 * `caracalctl`: resources (get, apply, delete) and IPAM (ctl/ipam.ts) through the datastore selected by
 * CARACAL_DATASTORE; BGP status through a speaker's status API. Node status, routes and policy explain arrive
 * with their components.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';
import { CaracalError, describeError, ErrorCodes, isCaracalError } from '../common/errors.js';
import type { Datastore } from '../datastore/types.js';
import type { BgpPeerStatus, BgpRoutesResponse } from '../model/bgp-status.js';
import { KINDS, type KindName, type ResourceOf } from '../model/kinds.js';
import { parseResource } from '../model/validate.js';
import { fetchJson, renderPeers, renderRoutes } from './bgp.js';
import { runIpam } from './ipam.js';
import { kindOfManifest, renderTable, resolveKind } from './resources.js';

const USAGE = `Usage: caracalctl <command> [args]

Commands:
  get KIND [NAME] [-n NAMESPACE] [-l SELECTOR] [-o table|yaml|json]
  apply -f FILE          create or update every resource in a YAML/JSON file (multi-document)
  delete KIND NAME [-n NAMESPACE]
  delete -f FILE         delete every resource named in a YAML/JSON file
  ipam show [--show-blocks] [-o table|json]      pools, blocks per node, utilisation
  ipam show --ip IP [--ip IP ...]                who holds an address (handle, pod, node, sequence number)
  ipam check [--grace 15m] [--node-list-authoritative] [-o table|json]
                                                 leaks, duplicates, inconsistent affinities/handles (exit 1 on a problem)
  ipam release --ip IP [--ip IP ...] [--seq N] | --handle ID
  ipam gc [--grace 15m] [--dry-run] [--node-list-authoritative]
                                                 release leaked addresses (report only with --dry-run); a node
                                                 missing from the Node list counts as gone only on Kubernetes
                                                 or with --node-list-authoritative
  bgp peers  --server URL [-o table|json]                    BGP sessions of a speaker (its status API)
  bgp routes --server URL [--prefix P] [--limit N] [-o table|json]   its Loc-RIB
  version

The datastore comes from CARACAL_DATASTORE=etcdv3|kubernetes with CARACAL_ETCD_ENDPOINTS or KUBECONFIG.`;

interface Flags {
  positional: string[];
  namespace?: string;
  selector?: string;
  output: 'table' | 'yaml' | 'json';
  file?: string;
  server?: string;
  prefix?: string;
  limit?: string;
  showBlocks?: boolean;
  grace?: string;
  dryRun?: boolean;
  nodeListAuthoritative?: boolean;
  ip?: string[];
  seq?: string;
  handle?: string;
}

export function parseFlags(args: readonly string[]): Flags {
  const f: Flags = { positional: [], output: 'table' };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new CaracalError(ErrorCodes.Usage, `Cannot parse arguments: ${a} needs a value`);
      return v;
    };
    if (a === '-n' || a === '--namespace') f.namespace = value();
    else if (a === '-l' || a === '--selector') f.selector = value();
    else if (a === '-f' || a === '--filename') f.file = value();
    else if (a === '--server' || a === '-s') f.server = value();
    else if (a === '--prefix') f.prefix = value();
    else if (a === '--limit') f.limit = value();
    else if (a === '--show-blocks') f.showBlocks = true;
    else if (a === '--dry-run') f.dryRun = true;
    else if (a === '--node-list-authoritative') f.nodeListAuthoritative = true;
    else if (a === '--grace') f.grace = value();
    else if (a === '--ip') f.ip = [...(f.ip ?? []), value()];
    else if (a === '--seq') f.seq = value();
    else if (a === '--handle') f.handle = value();
    else if (a === '-o' || a === '--output') {
      const o = value();
      if (o !== 'table' && o !== 'yaml' && o !== 'json') {
        throw new CaracalError(
          ErrorCodes.Usage,
          `Cannot parse arguments: -o must be table, yaml or json: current value is "${o}"`,
        );
      }
      f.output = o;
    } else if (a.startsWith('-')) throw new CaracalError(ErrorCodes.Usage, `Cannot parse arguments: unknown flag ${a}`);
    else f.positional.push(a);
  }
  return f;
}

async function openStore(): Promise<Datastore> {
  const { datastoreFromEnv } = await import('../datastore/index.js');
  return datastoreFromEnv(process.env);
}

async function get(store: Datastore, f: Flags): Promise<void> {
  const [kindArg, name] = f.positional;
  if (!kindArg) throw new CaracalError(ErrorCodes.Usage, 'Cannot get: a KIND is required');
  const kind = resolveKind(kindArg);
  let items: ResourceOf<KindName>[];
  if (name) {
    const o = await store.get(kind, name, f.namespace);
    if (!o) throw new CaracalError(ErrorCodes.NotFound, `Cannot get ${KINDS[kind].kind} "${name}": not found`);
    items = [o];
  } else {
    const r = await store.list(kind, { namespace: f.namespace, labelSelector: f.selector });
    for (const bad of r.invalid) console.error(`caracalctl: skipped invalid ${bad.key}: ${bad.error.message}`);
    items = r.items;
  }
  if (f.output === 'json') console.log(JSON.stringify(name ? items[0] : items, null, 2));
  else if (f.output === 'yaml') console.log(items.map((o) => stringify(o)).join('---\n'));
  else console.log(renderTable(KINDS[kind], items));
}

async function apply(store: Datastore, f: Flags): Promise<void> {
  if (!f.file) throw new CaracalError(ErrorCodes.Usage, 'Cannot apply: -f FILE is required');
  let text: string;
  try {
    text = readFileSync(f.file, 'utf8');
  } catch (e) {
    throw new CaracalError(ErrorCodes.InvalidResource, `Cannot apply ${f.file}: ${(e as Error).message}`);
  }
  const docs = parseAllDocuments(text);
  let i = 0;
  for (const d of docs) {
    const where = `${f.file}[${i++}]`;
    if (d.errors.length)
      throw new CaracalError(ErrorCodes.InvalidResource, `Cannot apply ${where}: ${d.errors[0]!.message}`);
    const obj = d.toJS() as ResourceOf<KindName> | null;
    if (obj === null) continue;
    const kind = kindOfManifest(obj, where);
    parseResource(kind, obj); // reject before touching the store; the store validates again on write
    const existing = await store.get(kind, obj.metadata?.name, obj.metadata?.namespace);
    if (existing) {
      obj.metadata.resourceVersion = existing.metadata.resourceVersion;
      // Set by the store on create; a manifest does not carry them, and etcd stores what an update sends.
      obj.metadata.uid ??= existing.metadata.uid;
      obj.metadata.creationTimestamp ??= existing.metadata.creationTimestamp;
      await store.update(kind, obj);
      console.log(`${KINDS[kind].kind}/${obj.metadata.name} configured`);
    } else {
      await store.create(kind, obj);
      console.log(`${KINDS[kind].kind}/${obj.metadata.name} created`);
    }
  }
}

/** The documents of a manifest file, each with its kind, validated; `where` names the document. */
function readManifests(file: string, verb: string): { where: string; kind: KindName; obj: ResourceOf<KindName> }[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CaracalError(ErrorCodes.InvalidResource, `Cannot ${verb} ${file}: ${(e as Error).message}`);
  }
  const out: { where: string; kind: KindName; obj: ResourceOf<KindName> }[] = [];
  let i = 0;
  for (const d of parseAllDocuments(text)) {
    const where = `${file}[${i++}]`;
    if (d.errors.length)
      throw new CaracalError(ErrorCodes.InvalidResource, `Cannot ${verb} ${where}: ${d.errors[0]!.message}`);
    const obj = d.toJS() as ResourceOf<KindName> | null;
    if (obj === null) continue;
    out.push({ where, kind: kindOfManifest(obj, where), obj });
  }
  return out;
}

async function deleteFile(store: Datastore, file: string): Promise<void> {
  let missing = 0;
  for (const { where, kind, obj } of readManifests(file, 'delete')) {
    const name = obj.metadata?.name;
    if (typeof name !== 'string' || name === '') {
      throw new CaracalError(ErrorCodes.InvalidResource, `Cannot delete ${where}: metadata.name is required`);
    }
    try {
      await store.delete(kind, name, obj.metadata.namespace);
      console.log(`${KINDS[kind].kind}/${name} deleted`);
    } catch (e) {
      if (!isCaracalError(e, ErrorCodes.NotFound)) throw e;
      console.error(`caracalctl: ${KINDS[kind].kind}/${name} not found`);
      missing++;
    }
  }
  if (missing > 0) process.exitCode = 1;
}

async function bgp(f: Flags): Promise<void> {
  const [what] = f.positional;
  if (what !== 'peers' && what !== 'routes')
    throw new CaracalError(ErrorCodes.Usage, 'Cannot run bgp: say "peers" or "routes"');
  const server = f.server ?? process.env.CARACAL_STATUS_URL ?? 'http://127.0.0.1:9179';
  if (what === 'peers') {
    const peers = (await fetchJson(server, 'bgp/peers')) as BgpPeerStatus[];
    console.log(f.output === 'json' ? JSON.stringify(peers, null, 2) : renderPeers(peers));
    return;
  }
  const q = new URLSearchParams();
  if (f.prefix) q.set('prefix', f.prefix);
  if (f.limit) q.set('limit', f.limit);
  const routes = (await fetchJson(server, `bgp/routes${q.size ? `?${q}` : ''}`)) as BgpRoutesResponse;
  console.log(f.output === 'json' ? JSON.stringify(routes, null, 2) : renderRoutes(routes));
}

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  let store: Datastore | undefined;
  try {
    if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
      console.log(USAGE);
      return;
    }
    if (cmd === 'version') {
      console.log('caracalctl 0.1.0');
      return;
    }
    const f = parseFlags(rest);
    if (cmd === 'bgp') {
      await bgp(f);
      return;
    }
    if (cmd !== 'get' && cmd !== 'apply' && cmd !== 'delete' && cmd !== 'ipam') {
      throw new CaracalError(ErrorCodes.Usage, `Cannot run caracalctl: unknown command "${cmd}"\n\n${USAGE}`);
    }
    if (cmd === 'ipam' && !['show', 'check', 'release', 'gc'].includes(f.positional[0] ?? '')) {
      throw new CaracalError(ErrorCodes.Usage, 'Cannot run ipam: say show, check, release or gc');
    }
    store = await openStore();
    if (cmd === 'get') await get(store, f);
    else if (cmd === 'apply') await apply(store, f);
    else if (cmd === 'ipam') process.exitCode = await runIpam(store, f.positional[0], f);
    else if (f.file) await deleteFile(store, f.file);
    else {
      const [kindArg, name] = f.positional;
      if (!kindArg || !name) throw new CaracalError(ErrorCodes.Usage, 'Cannot delete: KIND and NAME are required');
      const kind = resolveKind(kindArg);
      await store.delete(kind, name, f.namespace);
      console.log(`${KINDS[kind].kind}/${name} deleted`);
    }
  } catch (e) {
    console.error(`caracalctl: ${describeError(e)}`);
    process.exitCode = isCaracalError(e, ErrorCodes.Usage) ? 2 : 1;
  } finally {
    await store?.close();
  }
}
