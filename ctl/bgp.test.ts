/**
 * `caracalctl bgp` against an HTTP server that serves fixed documents in the shape of the speaker's status
 * API (docs/speaker.md). This checks the CLI's side of the contract; the speaker's own tests check that
 * `caracal speaker` serves that shape, and the interop tests run the two together.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatDuration, renderPeers } from './bgp.js';

const ROOT = new URL('..', import.meta.url).pathname;
const PEERS = [
  {
    address: '10.0.0.2',
    asn: 64513,
    state: 'Established',
    uptime: 3723,
    capabilities: { fourOctetAs: true },
    prefixesReceived: 10,
    prefixesAccepted: 9,
    prefixesAdvertised: 2,
  },
  {
    address: '10.0.0.3',
    asn: 64512,
    state: 'Active',
    uptime: 5,
    prefixesReceived: 0,
    prefixesAccepted: 0,
    prefixesAdvertised: 0,
    lastError: 'Connection refused',
  },
];

function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'ctl/main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, CARACAL_LOG_LEVEL: 'silent' },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('caracalctl bgp', () => {
  let server: Server;
  let url: string;
  const seen: string[] = [];
  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      if (req.url === '/bgp/peers') res.end(JSON.stringify(PEERS));
      else if (req.url?.startsWith('/bgp/routes')) {
        res.end(
          JSON.stringify({
            count: 3,
            routes: [
              {
                prefix: '10.244.1.0/26',
                nextHop: '10.0.0.2',
                asPath: '64513',
                origin: 'igp',
                localPref: 100,
                communities: [],
                peer: '10.0.0.2',
                reason: 'only-path',
              },
            ],
          }),
        );
      } else {
        res.statusCode = 404;
        res.end('{"error":"not found"}');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('`bgp peers` prints one line per peer like birdc show protocols', async () => {
    const r = await run(['bgp', 'peers', '--server', url]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.match(lines[0]!, /^PEER\s+ASN\s+STATE\s+SINCE\s+RECEIVED\s+ACCEPTED\s+ADVERTISED\s+INFO$/);
    assert.match(lines[1]!, /^10\.0\.0\.2\s+64513\s+Established\s+01:02:03\s+10\s+9\s+2$/);
    assert.match(lines[2]!, /^10\.0\.0\.3\s+64512\s+Active\s+00:00:05\s+0\s+0\s+0\s+Connection refused$/);
  });
  it('`bgp peers -o json` passes the API document through unchanged', async () => {
    const r = await run(['bgp', 'peers', '--server', url, '-o', 'json']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), PEERS);
  });
  it('`bgp routes` sends --prefix and --limit as query parameters and says when it shows fewer', async () => {
    const r = await run(['bgp', 'routes', '--server', url, '--prefix', '10.244.1.0/26', '--limit', '1']);
    assert.equal(r.code, 0, r.err);
    assert.ok(seen.includes('/bgp/routes?prefix=10.244.1.0%2F26&limit=1'), seen.join(' '));
    assert.match(r.out, /10\.244\.1\.0\/26\s+10\.0\.0\.2\s+64513\s+100\s+10\.0\.0\.2\s+only-path/);
    assert.match(r.out, /3 routes \(showing 1; use --limit\)/);
  });
  it('an unreachable server is an error naming the URL, exit 1', async () => {
    const r = await run(['bgp', 'peers', '--server', 'http://127.0.0.1:1']);
    assert.equal(r.code, 1);
    assert.match(r.err, /Cannot read http:\/\/127\.0\.0\.1:1\/bgp\/peers/);
  });
  it('`formatDuration()` and `renderPeers()` handle days and missing info', () => {
    assert.equal(formatDuration(90_061), '1d 01:01:01');
    assert.equal(formatDuration(-1), '-');
    assert.equal(renderPeers([]), 'PEER  ASN  STATE  SINCE  RECEIVED  ACCEPTED  ADVERTISED  INFO');
  });
});
