/**
 * A tiny passive BGP receiver for the feeder's own checks: listens (127.0.0.1, port 0 by default), answers
 * the handshake, and either decodes every UPDATE with speaker/wire (`decode: true`: the distinct prefixes
 * land in a Set, for correctness tests) or only frames them (`decode: false`: to time the feeder itself,
 * the "it sends 1M in about 0.2 s" figure). Not a BGP implementation: one session, no policy, no RIB.
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  decodeUpdate,
  encodeKeepalive,
  HEADER_LEN,
  MessageFramer,
  MessageType,
  updateContext,
} from '../../speaker/wire/index.js';
import { feederOpen } from './feeder.js';

export interface SinkOptions {
  readonly host?: string;
  readonly port?: number;
  readonly decode: boolean;
  readonly localAs?: number;
  readonly routerId?: string;
}

export interface SinkSession {
  /** Distinct prefix keys announced (decode mode only). */
  readonly prefixes: Set<number>;
  /** Prefixes counted over all UPDATEs (decode mode), duplicates included. */
  announced: number;
  updates: number;
  endOfRib: boolean;
  /** Resolves at End-of-RIB with process.hrtime.bigint(); rejects on a framing or decode error. */
  readonly done: Promise<bigint>;
}

export interface Sink {
  readonly port: number;
  /** The next session that connects. */
  readonly session: Promise<SinkSession>;
  close(): Promise<void>;
}

export async function startSink(opts: SinkOptions): Promise<Sink> {
  const sockets = new Set<Socket>();
  let resolveSession!: (s: SinkSession) => void;
  const session = new Promise<SinkSession>((res) => {
    resolveSession = res;
  });
  const ctx = updateContext({ fourOctetAs: true, ibgp: false });
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let resolveDone!: (t: bigint) => void;
    let rejectDone!: (e: Error) => void;
    const done = new Promise<bigint>((res, rej) => {
      resolveDone = res;
      rejectDone = rej;
    });
    done.catch(() => {});
    const s: SinkSession = { prefixes: new Set(), announced: 0, updates: 0, endOfRib: false, done };
    resolveSession(s);
    const framer = new MessageFramer();
    sock.write(feederOpen(opts.localAs ?? 65000, opts.routerId ?? '127.0.0.2', 90));
    sock.on('data', (chunk: Buffer) => {
      try {
        framer.push(chunk);
        for (let m = framer.pull(); m; m = framer.pull()) {
          const type = m[18];
          if (type === MessageType.Open) sock.write(encodeKeepalive());
          else if (type === MessageType.Update) {
            s.updates++;
            if (m.length === HEADER_LEN + 4) {
              s.endOfRib = true; // RFC 4724: an UPDATE with nothing in it is the IPv4 unicast End-of-RIB
              resolveDone(process.hrtime.bigint());
            } else if (opts.decode) {
              const u = decodeUpdate(m.subarray(HEADER_LEN), ctx);
              if (u.endOfRib) {
                s.endOfRib = true;
                resolveDone(process.hrtime.bigint());
              }
              for (const b of u.reachable)
                for (const k of b.prefixes) {
                  s.prefixes.add(k as number);
                  s.announced++;
                }
            }
          }
        }
      } catch (e) {
        rejectDone(e instanceof Error ? e : new Error(String(e)));
        sock.destroy();
      }
    });
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => res());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    session,
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}
