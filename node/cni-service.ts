/**
 * The node agent's CNI service: a unix socket (default /run/caracal/cni.sock, mode 0600) on which the CNI
 * plugin (cni/agent-client.ts, where the wire format is described) asks for its IPAM and WorkloadEndpoint
 * steps. The agent holds the datastore connection and one long-lived `Ipam`, so a pod start pays neither for
 * loading the datastore stack nor for a cold IPAM cache (docs/design/cni.md "Start-up").
 *
 * The work is done by the plugin's own functions (cni/ipam.ts `assignWith`, cni/endpoint.ts `writeEndpoint`,
 * `deleteEndpoint`), so both paths behave the same and fail with the same CNI codes. Requests on one
 * connection run concurrently (the Ipam serialises per node itself); each has a time limit, after which the
 * caller gets AGENT_TIMEOUT (the work may still finish: the plugin's undo releases by handle either way).
 *
 * Left out on purpose: authentication beyond the socket's mode (the plugin runs as root on the node), and
 * any command but these four; CHECK, GC and STATUS stay in the plugin.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import {
  AGENT_OPS,
  type AgentClient,
  type AgentOp,
  type AgentRequests,
  type AgentWireError,
  isForwardedEnv,
} from '../cni/agent-client.js';
import { DEFAULT_AGENT_SOCKET, netnsInode } from '../cni/config.js';
import { deleteEndpoint, endpointName, writeEndpoint } from '../cni/endpoint.js';
import { CniCode, CniError, toCniError } from '../cni/errors.js';
import { assignWith } from '../cni/ipam.js';
import { withTimeout } from '../common/clock.js';
import { CaracalError, describeError, ErrorCodes, isCaracalError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Datastore } from '../datastore/types.js';
import { Ipam } from '../ipam/index.js';

export { DEFAULT_AGENT_SOCKET };
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** The limit for a whole forwarded command (`cni`): above any sensible policy-wait timeout. */
const CNI_COMMAND_TIMEOUT_MS = 120_000;
/** A request line longer than this closes the connection (a plugin's requests are well under 4 KiB). */
const MAX_LINE = 1 << 20;

export interface CniServiceOptions {
  /** This node's name: requests for another node are refused (the Ipam's block cache is per node). */
  node: string;
  ds: Datastore;
  socketPath?: string;
  requestTimeoutMs?: number;
  log?: Logger;
  /** Tests pass their own; otherwise one is made over `ds`. */
  ipam?: Ipam;
}

type Handler<K extends AgentOp> = (args: AgentRequests[K]['args']) => Promise<AgentRequests[K]['result']>;

export class CniService {
  readonly socketPath: string;
  readonly #server: Server;
  readonly #conns = new Set<Socket>();
  readonly #inflight = new Set<Promise<unknown>>();
  /** The last assign or release of each handle, for #perHandle. */
  readonly #byHandle = new Map<string, Promise<void>>();
  readonly #byAttachment = new Map<string, Promise<void>>();
  readonly #handlers: { [K in AgentOp]: Handler<K> };
  readonly #node: string;
  readonly #timeoutMs: number;
  readonly #log: Logger | undefined;

  private constructor(opts: CniServiceOptions, server: Server) {
    this.socketPath = opts.socketPath ?? DEFAULT_AGENT_SOCKET;
    this.#server = server;
    this.#node = opts.node;
    this.#timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#log = opts.log;
    const ds = opts.ds;
    const ipam = opts.ipam ?? new Ipam(ds, { node: opts.node, ...(opts.log ? { log: opts.log } : {}) });
    this.#handlers = {
      assign: async (a) => {
        this.#sameNode(a.node);
        return this.#perHandle(a.handleId, () => assignWith(ipam, a.ipam, a.node, a.handleId, a.attrs));
      },
      release: async (a) => ({ released: await this.#perHandle(a.handleId, () => ipam.releaseByHandle(a.handleId)) }),
      writeEndpoint: async (a) => {
        this.#sameNode(a.node);
        return { name: await writeEndpoint(ds, a) };
      },
      deleteEndpoint: async (a) => {
        this.#sameNode(a.node);
        const name = await endpointName(a);
        await deleteEndpoint(ds, name, a.pod.namespace, a.containerId);
        return { name };
      },
      // A whole command, run here with the plugin's CNI_* environment: the plugin process then loads nothing
      // but cni/main.ts and the client (docs/design/cni.md "Start-up"). Its IPAM and endpoint steps call the
      // handlers above directly; runPlugin never throws (a failure is a CNI error object with exitCode 1).
      cni: async (a) => {
        // The veth's host end is made in the agent's namespace: only a plugin running in the same one may
        // hand its command over (a lab node's plugin, say, must not get its pod wired into the host).
        const own = netnsInode();
        if (a.netns !== undefined && own !== undefined && a.netns !== own)
          return {
            stdout: '',
            exitCode: 1,
            refused: `the agent runs in network namespace ${own}, the plugin in ${a.netns}`,
          };
        const env: Record<string, string> = {};
        for (const [k, v] of Object.entries(a.env ?? {})) if (isForwardedEnv(k) && typeof v === 'string') env[k] = v;
        const { runPlugin } = await import('../cni/plugin.js');
        // Commands for one attachment run in arrival order: a DEL sent while its ADD still runs here (the
        // plugin gave up waiting, a long policy wait) must come after it, or the ADD would build what the DEL
        // already tore down.
        const key = `${env.CNI_CONTAINERID ?? ''}\u0000${env.CNI_IFNAME ?? ''}`;
        return inOrder(this.#byAttachment, key, () => runPlugin(env, String(a.stdin), { inAgent: local }));
      },
    };
    const local: AgentClient = {
      call: (op, args) => (this.#handlers[op] as Handler<typeof op>)(args as never) as never,
      close: () => {},
    };
    server.on('connection', (c) => this.#serve(c));
  }

  /**
   * Listen on the socket. A leftover socket file nobody answers on (an agent that crashed) is replaced; one
   * that a live process answers on is an error.
   * @example const svc = await CniService.start({ node: 'worker-1', ds }); … await svc.close();
   */
  static async start(opts: CniServiceOptions): Promise<CniService> {
    const path = opts.socketPath ?? DEFAULT_AGENT_SOCKET;
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    if (existsSync(path)) {
      // Only ever replace a socket: a regular file there is a mistyped --cni-socket, not a crashed agent's.
      if (!lstatSync(path).isSocket())
        throw new CaracalError(
          ErrorCodes.InvalidConfig,
          `Cannot serve the CNI plugin on "${path}": it exists and is not a socket`,
          { details: { socketPath: path } },
        );
      if (await answers(path))
        throw new CaracalError(
          ErrorCodes.InvalidConfig,
          `Cannot serve the CNI plugin on "${path}": another process is listening there`,
          { details: { socketPath: path } },
        );
      rmSync(path, { force: true });
    }
    const server = createServer();
    const svc = new CniService(opts, server);
    // The socket is made with mode 0600 (umask around the bind, which is synchronous for a path), and
    // chmod'ed again in case the umask could not be set (worker threads).
    let old: number | undefined;
    try {
      old = process.umask(0o177);
    } catch {}
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      if (old !== undefined) process.umask(old);
    }
    chmodSync(path, 0o600);
    opts.log?.info({ event: 'cniServiceUp', socketPath: path }, 'serving the CNI plugin');
    return svc;
  }

  /** Stop accepting, let running requests finish (up to their time limit), close connections, remove the file. */
  async close(): Promise<void> {
    const closed = new Promise((r) => this.#server.close(r));
    await Promise.allSettled([...this.#inflight]);
    for (const c of this.#conns) c.destroy();
    await closed;
    rmSync(this.socketPath, { force: true });
  }

  /**
   * Run assign and release of one handle in arrival order. An assign the caller gave up on (AGENT_TIMEOUT)
   * keeps running; the release the plugin's undo then sends must come after it, or the late assign's address
   * stays allocated with no pod (and its handle already deleted).
   */
  #perHandle<T>(handleId: string, fn: () => Promise<T>): Promise<T> {
    return inOrder(this.#byHandle, handleId, fn);
  }

  #sameNode(node: unknown): void {
    if (node !== this.#node)
      throw new CaracalError(
        ErrorCodes.InvalidConfig,
        `Cannot serve the CNI plugin: its nodename is "${String(node)}" but this agent runs as "${this.#node}"`,
        { details: { node, agentNode: this.#node } },
      );
  }

  #serve(c: Socket): void {
    this.#conns.add(c);
    c.setEncoding('utf8');
    let buf = '';
    let refused = false;
    c.on('data', (chunk: string) => {
      // After an over-long line the connection is done: a peer holding its side open must not get more run.
      if (refused) return;
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (line.trim() !== '') this.#request(c, line);
      }
      if (buf.length > MAX_LINE) {
        this.#reply(c, undefined, undefined, badRequest(`a request line is longer than ${MAX_LINE} bytes`));
        refused = true;
        buf = '';
        c.end();
      }
    });
    c.on('error', () => c.destroy());
    c.on('close', () => this.#conns.delete(c));
  }

  #request(c: Socket, line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
      if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw new Error('not an object');
    } catch (e) {
      this.#reply(c, undefined, undefined, badRequest(`the line is not a JSON object: ${describeError(e)}`));
      return;
    }
    const id = typeof msg.id === 'number' ? msg.id : undefined;
    const op = msg.op as AgentOp;
    if (id === undefined || !AGENT_OPS.includes(op)) {
      const why = id === undefined ? 'id must be a number' : `op must be one of ${AGENT_OPS.join(', ')}`;
      this.#reply(
        c,
        id,
        undefined,
        badRequest(`${why}: current value is ${JSON.stringify(id === undefined ? msg.id : msg.op)}`),
      );
      return;
    }
    const missing = REQUIRED[op].filter((k) => msg[k] === undefined);
    if (missing.length) {
      this.#reply(c, id, undefined, badRequest(`${op} needs ${missing.join(', ')}`));
      return;
    }
    const t0 = performance.now();
    const work = (this.#handlers[op] as Handler<AgentOp>)(msg as never);
    // A whole command may wait for policy (the plugin's own `policyWait` timeout governs it).
    const limit = op === 'cni' ? Math.max(this.#timeoutMs, CNI_COMMAND_TIMEOUT_MS) : this.#timeoutMs;
    const timedOut = () =>
      new CaracalError(ErrorCodes.AgentTimeout, `Cannot finish ${op}: it took longer than ${limit} ms`);
    const p = withTimeout(work, limit, timedOut).then(
      (result) => this.#reply(c, id, result, undefined),
      (e) => {
        this.#log?.warn({ event: 'cniRequestFailed', op, err: describeError(e) }, 'CNI request failed');
        this.#reply(c, id, undefined, e);
      },
    );
    this.#inflight.add(p);
    void p.finally(() => {
      this.#inflight.delete(p);
      if (this.#log?.isLevelEnabled('debug'))
        this.#log.debug({ op, ms: Math.round((performance.now() - t0) * 10) / 10 }, 'CNI request');
    });
  }

  #reply(c: Socket, id: number | undefined, result: unknown, err: unknown): void {
    if (c.destroyed || !c.writable) return;
    const line = err === undefined ? { id, result } : { id, error: wireError(err) };
    c.write(`${JSON.stringify(line)}\n`);
  }
}

/** Runs `fn` after everything queued under `key` in `chains` has settled; the chain entry is dropped when idle. */
export function inOrder<T>(chains: Map<string, Promise<void>>, key: string, fn: () => Promise<T>): Promise<T> {
  const run = (chains.get(key) ?? Promise.resolve()).then(fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  chains.set(key, tail);
  void tail.then(() => {
    if (chains.get(key) === tail) chains.delete(key);
  });
  return run;
}

/** Keys each request must carry (the rest is the plugin's business; the handlers' own checks do the values). */
const REQUIRED: { [K in AgentOp]: readonly (keyof AgentRequests[K]['args'])[] } = {
  assign: ['handleId', 'node', 'ipam', 'attrs'],
  release: ['handleId'],
  writeEndpoint: ['node', 'pod', 'ifname', 'containerId', 'hostIfname', 'podMac', 'ipNetworks'],
  deleteEndpoint: ['node', 'pod', 'ifname', 'containerId'],
  cni: ['env', 'stdin'],
};

function badRequest(why: string): CaracalError {
  return new CaracalError(ErrorCodes.AgentBadRequest, `Cannot serve the CNI request: ${why}`);
}

/** The error as the plugin would have reported it in-process: the CNI code, and our code as the name. */
export function wireError(e: unknown): AgentWireError {
  const cni = toCniError(e);
  const code = isCaracalError(e) ? e.code : e instanceof CniError ? `CNI_${e.code}` : ErrorCodes.Internal;
  const cniCode = isCaracalError(e, ErrorCodes.AgentTimeout) ? CniCode.TryAgainLater : cni.code;
  return { code, message: cni.message, cniCode };
}

/** True when some process accepts a connection on `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
