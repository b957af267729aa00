/**
 * Child-process driver for routes.test.ts: runs inside a netns (`ip netns exec NS node --import tsx <this>`),
 * reads one JSON command on stdin, prints one JSON answer on stdout.
 *   { "cmd": "apply", "ops": RouteOp[] }       → { results: { errno?, message? }[], ms }
 *   { "cmd": "list", "protocol": number }       → { routes: Route[], ms }
 */
import { NetlinkRoutePort } from '../routes.js';

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const req = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const port = NetlinkRoutePort.open();
try {
  const t0 = performance.now();
  if (req.cmd === 'apply') {
    const res = await port.applyBatch(req.ops);
    const ms = performance.now() - t0;
    const results = res.map((r) => (r.error ? { errno: r.error.details.errno, message: r.error.message } : {}));
    process.stdout.write(JSON.stringify({ results, ms }));
  } else if (req.cmd === 'list') {
    const m = await port.listOwnedRoutes(req.protocol);
    process.stdout.write(JSON.stringify({ routes: [...m.values()], ms: performance.now() - t0 }));
  } else throw new Error(`unknown cmd ${req.cmd}`);
} finally {
  port.close();
}
