/**
 * Long-lived child for bench/netlink-routes.bench.ts: runs inside a netns (`ip netns exec NS node --import tsx
 * <this> N IFNAME`), builds N /32 routes (10.128.0.0 upwards, proto 80, scope link, dev IFNAME) once, then
 * answers one line per command on stdin:
 *   install | delete | cycle (install then delete) → number of failed ops
 *   count → number of routes with proto 80
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { type Route, type RouteOp, RouteScope, RouteType } from '../codec.js';
import { NetlinkRoutePort } from '../routes.js';

const n = Number(process.argv[2] ?? 100_000);
const ifname = process.argv[3] ?? 'veth0';
const oif = Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8').trim());
const routes: Route[] = [];
for (let i = 0; i < n; i++) {
  const a = 0x0a800000 + i;
  routes.push({
    family: 4,
    dst: `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`,
    prefixLen: 32,
    table: 254,
    protocol: 80,
    scope: RouteScope.Link,
    type: RouteType.Unicast,
    oif,
    flags: 0,
  });
}
const install: RouteOp[] = routes.map((route) => ({ kind: 'replace', route }));
const remove: RouteOp[] = routes.map((route) => ({ kind: 'delete', route }));
const port = NetlinkRoutePort.open();
const failed = async (ops: RouteOp[]) => (await port.applyBatch(ops)).filter((r) => r.error).length;

for await (const line of createInterface({ input: process.stdin })) {
  let answer: number;
  if (line === 'install') answer = await failed(install);
  else if (line === 'delete') answer = await failed(remove);
  else if (line === 'cycle') answer = (await failed(install)) + (await failed(remove));
  else if (line === 'count') answer = (await port.listOwnedRoutes(80)).size;
  else answer = -1;
  process.stdout.write(`${answer}\n`);
}
port.close();
