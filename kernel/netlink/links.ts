/**
 * Links, addresses and neighbours over one NetlinkSocket (the effectful side of link-codec.ts): the few
 * operations the CNI plugin makes, each a single send() of a batch and one read of its ACKs. A kernel refusal
 * becomes a CaracalError naming the operation, with `details.errno`, so callers can treat ENODEV/EEXIST as
 * states rather than failures.
 *
 * Leaves out: monitoring (multicast groups), link kinds other than veth.
 */
import { CaracalError, ErrorCodes } from '../../common/errors.js';
import type { NetlinkMessage, RouteOp } from './codec.js';
import { encodeRouteMessage, sizeRouteMessage } from './codec.js';
import {
  type Addr,
  type AddrFamily,
  decodeAddr,
  decodeLink,
  encodeAddrDump,
  encodeGetLink,
  type Link,
  LinkMsgType,
  type LinkRef,
} from './link-codec.js';
import type { NetlinkSocket } from './socket.js';

export const Errno = { ENOENT: 2, ESRCH: 3, EEXIST: 17, ENODEV: 19 } as const;

/** One request of a batch: a description for error messages and an encoder given its sequence number. */
export interface LinkRequest {
  what: string;
  encode: (seq: number) => Buffer;
  /** errnos that count as success for this request (say ENODEV for a delete). */
  okErrnos?: readonly number[];
}

/** A route op as a LinkRequest, so link, address and route changes share one batch. */
export function routeRequest(op: RouteOp, what?: string): LinkRequest {
  return {
    what: what ?? `${op.kind} route ${op.route.dst}/${op.route.prefixLen}`,
    encode: (seq) => {
      const out = Buffer.alloc(sizeRouteMessage(op.kind, op.route));
      // runBatch counts one ACK per request: ask for it explicitly (only batches opt out, in codec.ts).
      encodeRouteMessage(op.kind, op.route, seq, out, 0, { ack: true });
      return out;
    },
    okErrnos: op.kind === 'delete' ? [Errno.ESRCH] : [],
  };
}

export function netlinkError(what: string, errno: number, message: string | undefined): CaracalError {
  return new CaracalError(ErrorCodes.Internal, `Cannot ${what}: ${message ?? 'error'} (errno ${errno})`, {
    details: { errno },
  });
}

/**
 * Send every request in one batch; throws for the first one the kernel refused (the kernel still carries
 * out the rest). Returns the replies (e.g. RTM_NEWLINK for a get), indexed by request.
 */
export function runBatch(nl: NetlinkSocket, reqs: readonly LinkRequest[]): NetlinkMessage[][] {
  if (reqs.length === 0) return [];
  const first = nl.nextSeq(reqs.length);
  const batch = Buffer.concat(reqs.map((r, i) => r.encode(first + i)));
  const { acks, replies } = nl.exchangeSync(batch, reqs.length);
  for (let i = 0; i < reqs.length; i++) {
    const ack = acks[i];
    const req = reqs[i] as LinkRequest;
    if (ack && ack.errno !== 0 && !req.okErrnos?.includes(ack.errno))
      throw netlinkError(req.what, ack.errno, ack.message);
  }
  const out: NetlinkMessage[][] = reqs.map(() => []);
  for (const m of replies) out[(m.seq - first) >>> 0]?.push(m);
  return out;
}

/** The link, or undefined when there is none by that name/index. */
export function getLink(nl: NetlinkSocket, ref: LinkRef): Link | undefined {
  const what = `get link ${ref.name ?? ref.index}`;
  const [replies] = runBatch(nl, [{ what, encode: (s) => encodeGetLink(ref, s), okErrnos: [Errno.ENODEV] }]);
  for (const m of replies ?? []) {
    if (m.kind === 'other' && m.type === LinkMsgType.NewLink) return decodeLink(m.body);
  }
  return undefined;
}

/** Every address of one family (or both), optionally of one link only. */
export function listAddrs(nl: NetlinkSocket, family?: AddrFamily, index?: number): Addr[] {
  const out: Addr[] = [];
  for (const m of nl.dumpSync((seq) => encodeAddrDump(family, seq))) {
    if (m.kind !== 'other' || m.type !== LinkMsgType.NewAddr) continue;
    const a = decodeAddr(m.body);
    if (a && (index === undefined || a.index === index)) out.push(a);
  }
  return out;
}
