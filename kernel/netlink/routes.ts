/**
 * The RoutePort that felix/dataplane/routes.ts reconciles through (STYLE §3.3): list the routes we own, and
 * apply a batch of replace/delete ops, 1000 messages per send(), each op with its own outcome so one bad route
 * does not fail the rest. Ownership is the rtm_protocol number (felix.md): we list, replace and delete only
 * routes carrying ours, and a delete names our protocol so the kernel never removes a foreign route that
 * happens to share the prefix.
 *
 * Leaves out: diffing (that is felix's planRouteOps), retries (a failed op stays dirty in felix), link lookups.
 */
import { CaracalError, ErrorCodes } from '../../common/errors.js';
import { encodeRouteBatch, type Route, type RouteKey, type RouteOp, routeKey } from './codec.js';
import { NetlinkSocket } from './socket.js';

export type { Route, RouteKey, RouteOp } from './codec.js';
export { routeKey } from './codec.js';

/** Messages per send(): measured in environment.md §3a (100 to 1000 best; 5000 slower). */
export const BATCH_SIZE = 1000;

export interface RouteOpResult<Op extends RouteOp = RouteOp> {
  op: Op;
  /** Present when the kernel refused this op; `details.errno` carries the errno. */
  error?: CaracalError | undefined;
}

/** What the dataplane needs from the kernel for routes. Fakes implement it in felix's unit tests. */
export interface RoutePort {
  /** Every IPv4 and IPv6 route (all tables) whose rtm_protocol is `protocol`, by `routeKey`. */
  listOwnedRoutes(protocol: number): Promise<Map<RouteKey, Route>>;
  /** Apply ops in order; one result per op, in the same order. */
  applyBatch<Op extends RouteOp>(ops: readonly Op[]): Promise<RouteOpResult<Op>[]>;
}

/**
 * RoutePort over one NETLINK_ROUTE socket in the current network namespace.
 * @example const port = NetlinkRoutePort.open(); await port.applyBatch([{ kind: 'replace', route }]); port.close();
 */
export class NetlinkRoutePort implements RoutePort {
  readonly #nl: NetlinkSocket;

  constructor(nl: NetlinkSocket) {
    this.#nl = nl;
  }

  static open(): NetlinkRoutePort {
    return new NetlinkRoutePort(NetlinkSocket.open());
  }

  async listOwnedRoutes(protocol: number): Promise<Map<RouteKey, Route>> {
    const out = new Map<RouteKey, Route>();
    for (const family of [4, 6] as const) {
      for (const r of this.#nl.dumpRoutes(family, { protocol })) out.set(routeKey(r), r);
    }
    return out;
  }

  async applyBatch<Op extends RouteOp>(ops: readonly Op[]): Promise<RouteOpResult<Op>[]> {
    const results: RouteOpResult<Op>[] = [];
    // One ACK per batch (the last op's); refused ops still get their error ACK. Pipelined: the next batch is
    // encoded while the kernel handles the current one (the send runs off this thread), so the kernel is
    // rarely idle between batches.
    const encode = (from: number) => {
      const chunk = ops.slice(from, from + BATCH_SIZE);
      return { chunk, batch: encodeRouteBatch(chunk, this.#nl.nextSeq(chunk.length), { ackLastOnly: true }) };
    };
    let cur = ops.length > 0 ? encode(0) : undefined;
    for (let i = 0; cur; i += BATCH_SIZE) {
      const sending = this.#nl.requestLastAck(cur.batch, cur.chunk.length);
      const upcoming = i + BATCH_SIZE < ops.length ? encode(i + BATCH_SIZE) : undefined;
      const acks = await sending;
      const chunk = cur.chunk;
      for (let j = 0; j < chunk.length; j++) {
        const op = chunk[j] as Op;
        const ack = acks[j];
        if (!ack || ack.errno === 0) {
          results.push({ op });
          continue;
        }
        const r = op.route;
        const error = new CaracalError(
          ErrorCodes.Internal,
          `Cannot ${op.kind} route ${routeKey(r)}: ${ack.message ?? 'error'} (errno ${ack.errno})`,
          { details: { errno: ack.errno, key: routeKey(r), kind: op.kind } },
        );
        results.push({ op, error });
      }
      cur = upcoming;
    }
    return results;
  }

  close(): void {
    this.#nl.close();
  }
}
