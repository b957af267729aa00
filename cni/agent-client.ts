/**
 * The plugin's side of the node agent's CNI service (node/cni-service.ts): when `caracal node` runs on the
 * node, ADD and DEL hand their IPAM and WorkloadEndpoint steps to it over a unix socket instead of loading
 * the datastore stack (etcd3 or client-node, zod, the models: ~400 ms of every pod start, docs/design/cni.md
 * "Start-up") and doing the round trips with a cold IPAM cache. The agent holds the datastore and one
 * long-lived Ipam whose node-block cache stays warm.
 *
 * Wire: JSON lines both ways. A request is `{"id": n, "op": ..., ...args}`; the answer is
 * `{"id": n, "result": ...}` or `{"id": n, "error": {"code", "message", "cniCode"}}` (`code` a CaracalError
 * code or a CNI code's name, `cniCode` the CNI error code the in-process path would have reported). Answers
 * may come in any order. This module loads node:net only (cni/import-graph.test.ts checks it).
 *
 * Deliberately not here: any fallback policy. `connectAgent` returns undefined when nothing accepts on the
 * socket; a request that loses its connection rejects with `AgentUnavailable`; plugin.ts decides which steps
 * may then run in-process (the idempotent ones).
 */
import { connect, type Socket } from 'node:net';
import type { IpamConf } from './config.js';
import type { EndpointFacts } from './endpoint.js';
import { CniCode, CniError } from './errors.js';
import type { Assigned } from './ipam.js';

/** What the plugin asks the agent for (the shapes of the functions the agent runs: cni/ipam.ts, endpoint.ts). */
export interface AgentRequests {
  assign: {
    args: {
      handleId: string;
      node: string;
      ipam: Pick<IpamConf, 'assignIpv4' | 'assignIpv6' | 'ipv4Pools' | 'ipv6Pools'>;
      attrs: Record<string, string>;
    };
    result: Assigned;
  };
  release: { args: { handleId: string }; result: { released: string[] } };
  writeEndpoint: { args: EndpointFacts; result: { name: string } };
  deleteEndpoint: {
    args: Pick<EndpointFacts, 'node' | 'pod' | 'ifname' | 'containerId'>;
    result: { name: string };
  };
  /**
   * A whole CNI command (ADD, DEL, CHECK) run by the agent itself with the plugin's CNI_* environment and
   * stdin: veth, addresses and routes too, so the plugin process loads nothing but this module (cni/main.ts).
   */
  cni: {
    /** `netns`: the inode of the plugin's network namespace; the agent refuses a command from another one. */
    args: { env: Record<string, string>; stdin: string; netns?: number | undefined };
    /** `refused`: the agent did not run it (another namespace): run it in-process. */
    result: { stdout: string; exitCode: number; refused?: string | undefined };
  };
}
export type AgentOp = keyof AgentRequests;
export const AGENT_OPS: readonly AgentOp[] = ['assign', 'release', 'writeEndpoint', 'deleteEndpoint', 'cni'];
/**
 * What a `cni` request's `env` carries: the CNI_* variables, plus the plugin-environment defaults
 * parseNetConf reads for the node name (docs/cni.md `nodename`), which the agent's own environment need not share.
 */
export const isForwardedEnv = (k: string) => k.startsWith('CNI_') || k === 'CARACAL_NODENAME' || k === 'NODENAME';

/** The error object an answer carries. */
export interface AgentWireError {
  code: string;
  message: string;
  cniCode: number;
}

/** The connection broke, or no answer came in time: the request may or may not have been carried out. */
export class AgentUnavailable extends Error {
  override readonly name = 'AgentUnavailable';
}

export interface AgentClient {
  call<K extends AgentOp>(op: K, args: AgentRequests[K]['args']): Promise<AgentRequests[K]['result']>;
  close(): void;
}

export interface AgentClientOptions {
  /** How long a connect may take before the plugin goes in-process (a local socket answers in microseconds). */
  connectTimeoutMs?: number;
  /** How long one request may take; then it rejects with AgentUnavailable. Above the agent's own limit. */
  requestTimeoutMs?: number;
}

/**
 * A connection to the agent, or undefined when nothing accepts on `path` (no file, nobody listening, no
 * permission, or `path` is "": disabled).
 * @example const agent = await connectAgent('/run/caracal/cni.sock'); // undefined: do it in-process
 */
export function connectAgent(path: string, opts: AgentClientOptions = {}): Promise<AgentClient | undefined> {
  if (path === '') return Promise.resolve(undefined);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 1000;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 15_000;
  return new Promise((resolve) => {
    const sock = connect(path);
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(undefined);
    }, connectTimeoutMs);
    sock.once('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(new Connection(sock, requestTimeoutMs));
    });
  });
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

class Connection implements AgentClient {
  readonly #sock: Socket;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #buf = '';
  #broken: string | undefined;

  constructor(sock: Socket, timeoutMs: number) {
    this.#sock = sock;
    this.#timeoutMs = timeoutMs;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.#onData(chunk));
    sock.on('error', (e) => this.#fail(`the agent connection failed: ${e.message}`));
    sock.on('close', () => this.#fail('the agent closed the connection'));
  }

  call<K extends AgentOp>(op: K, args: AgentRequests[K]['args']): Promise<AgentRequests[K]['result']> {
    if (this.#broken !== undefined)
      return Promise.reject(new AgentUnavailable(`Cannot ask the agent to ${op}: ${this.#broken}`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new AgentUnavailable(`Cannot ask the agent to ${op}: no answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.#sock.write(`${JSON.stringify({ ...args, id, op })}\n`);
    });
  }

  close(): void {
    this.#fail('the plugin closed the connection');
    this.#sock.destroy();
  }

  #onData(chunk: string): void {
    this.#buf += chunk;
    let nl = this.#buf.indexOf('\n');
    while (nl >= 0) {
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 1);
      nl = this.#buf.indexOf('\n');
      let msg: { id?: unknown; result?: unknown; error?: AgentWireError };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        this.#fail('the agent sent a line that is not JSON');
        this.#sock.destroy();
        return;
      }
      const p = typeof msg.id === 'number' ? this.#pending.get(msg.id) : undefined;
      if (!p) continue; // an answer that came after its timeout
      this.#pending.delete(msg.id as number);
      clearTimeout(p.timer);
      if (msg.error) {
        const e = msg.error;
        const cniCode = typeof e.cniCode === 'number' ? e.cniCode : CniCode.IoFailure;
        // details: our error code, as toCniError gives it in-process (a plain CNI code adds nothing).
        p.reject(new CniError(cniCode, e.message, String(e.code).startsWith('CNI_') ? '' : e.code));
      } else p.resolve(msg.result);
    }
  }

  #fail(why: string): void {
    this.#broken ??= why;
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(new AgentUnavailable(`Cannot finish the agent request: ${why}`));
    }
  }
}
