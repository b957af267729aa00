/**
 * The speaker's read-only HTTP status API (docs/speaker.md): `GET /bgp/peers`, `GET /bgp/routes`, and
 * `/livez`. JSON only. Handlers read in-memory state and page large answers, so the API stays responsive
 * while routes arrive; it never writes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeError, isCaracalError } from '../common/errors.js';
import type { BgpPeerStatus, BgpRoutesResponse } from '../model/bgp-status.js';
import { tryParseCidr } from '../model/ip.js';

export interface StatusSource {
  peerStatus(): BgpPeerStatus[];
  routes(q: { prefix?: string | undefined; limit?: number | undefined; after?: string | undefined }): BgpRoutesResponse;
}

export const MAX_ROUTES_PER_PAGE = 100_000;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Query errors are the client's (400) and name the parameter. */
function badRequest(res: ServerResponse, message: string): void {
  send(res, 400, { error: message });
}

export function handleStatus(src: StatusSource, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://status');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, { error: `Cannot ${req.method} ${url.pathname}: the status API is read-only` });
    return;
  }
  try {
    switch (url.pathname) {
      case '/livez':
        send(res, 200, { ok: true });
        return;
      case '/bgp/peers':
        send(res, 200, src.peerStatus());
        return;
      case '/bgp/routes': {
        const limitText = url.searchParams.get('limit');
        let limit: number | undefined;
        if (limitText !== null) {
          limit = Number(limitText);
          if (!Number.isInteger(limit) || limit < 0 || limit > MAX_ROUTES_PER_PAGE) {
            badRequest(
              res,
              `Cannot list routes: limit must be an integer from 0 to ${MAX_ROUTES_PER_PAGE}: current value is "${limitText}"`,
            );
            return;
          }
        }
        const prefix = url.searchParams.get('prefix') ?? undefined;
        if (prefix !== undefined) {
          const c = tryParseCidr(prefix);
          if (!c.ok) {
            badRequest(res, `Cannot list routes: prefix must be a CIDR (${c.reason}): current value is "${prefix}"`);
            return;
          }
        }
        const after = url.searchParams.get('after') ?? undefined;
        send(res, 200, src.routes({ prefix, limit, after }));
        return;
      }
      default:
        send(res, 404, {
          error: `Cannot GET ${url.pathname}: the status API serves /bgp/peers, /bgp/routes and /livez`,
        });
    }
  } catch (e) {
    // A bad prefix or cursor is the caller's mistake; anything else is ours.
    if (isCaracalError(e) && (e.code === 'INVALID_RESOURCE' || e.code === 'USAGE')) badRequest(res, e.message);
    else send(res, 500, { error: describeError(e) });
  }
}

/** Starts the API; resolves with the server and its bound port. */
export async function startStatusApi(
  src: StatusSource,
  address: string,
  port: number,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => handleStatus(src, req, res));
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}
