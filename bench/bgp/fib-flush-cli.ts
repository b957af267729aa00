/**
 * Run inside a network namespace by bench/bgp/fib.ts between FIB benchmark runs:
 * `ip netns exec NS node --import tsx fib-flush-cli.ts PROTOCOL` removes every IPv4 and IPv6 route whose
 * rtm_protocol is PROTOCOL through kernel/netlink (1000 deletes per send), checks that none is left, and prints
 * how many it removed. Exit status 1 when routes remain (with how many on stderr).
 */
import { NetlinkRoutePort, type RouteOp } from '../../kernel/netlink/routes.js';

const protocol = Number(process.argv[2]);
if (!Number.isInteger(protocol) || protocol < 1 || protocol > 255) {
  process.stderr.write(`usage: fib-flush-cli.ts PROTOCOL (1..255): current value is "${process.argv[2]}"\n`);
  process.exit(2);
}
const port = NetlinkRoutePort.open();
try {
  const owned = await port.listOwnedRoutes(protocol);
  // Delete by prefix, table, protocol and metric only: a route that uses a nexthop object (zebra installs
  // with RTA_NH_ID) does not match a delete that names its gateway or interface (ESRCH).
  const ops: RouteOp[] = [...owned.values()].map(({ gateway: _g, oif: _o, ...route }) => ({ kind: 'delete', route }));
  const failed = (await port.applyBatch(ops)).filter((r) => r.error);
  const left = (await port.listOwnedRoutes(protocol)).size;
  if (left > 0) {
    process.stderr.write(
      `${left} proto ${protocol} routes remain; ${failed.length} deletes failed: ${failed[0]?.error?.message}\n`,
    );
    process.exitCode = 1;
  }
  process.stdout.write(`${ops.length - failed.length}\n`);
} finally {
  port.close();
}
