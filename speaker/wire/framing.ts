/**
 * Splits a TCP byte stream into BGP messages (RFC 4271 §4.1). Keeps the received chunks in a list, hands
 * out `subarray` views, and copies only when a message straddles chunks (undici's `consume(n)`).
 * Validates every header as it is pulled (§6.1): marker, length bounds for the type, known type.
 *
 * Leaves out: the socket and the hold timer (session/peer.ts). After a throw the framer is poisoned: the
 * session must reset, and every later `pull()` rethrows the same error.
 */
import { BgpError, ErrorCode, HeaderSubcode } from './errors.js';
import { HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, MessageType } from './types.js';

/** Smallest legal total length per message type (RFC 4271 §4.2–4.5, RFC 2918 §3). */
const MIN_LEN: readonly number[] = [0, 29, 23, 21, 19, 23];

/**
 * Check a header and return the message length, or throw a Header error (RFC 4271 §6.1).
 * `maxLen` is 4096, or 65,535 once RFC 8654 extended messages are negotiated (never for OPEN or KEEPALIVE).
 */
export function checkHeader(hdr: Uint8Array, off: number, maxLen: number): number {
  for (let i = 0; i < 16; i++) {
    if (hdr[off + i] !== 0xff) {
      throw new BgpError(
        ErrorCode.Header,
        HeaderSubcode.ConnectionNotSynchronized,
        'Cannot frame message: marker is not all ones',
      );
    }
  }
  const len = ((hdr[off + 16] as number) << 8) | (hdr[off + 17] as number);
  const type = hdr[off + 18] as number;
  const min = MIN_LEN[type];
  if (min === undefined || min === 0) {
    throw new BgpError(
      ErrorCode.Header,
      HeaderSubcode.BadMessageType,
      `Cannot frame message: type ${type} is unknown`,
      {
        data: Uint8Array.of(type),
      },
    );
  }
  // RFC 8654 §4: OPEN and KEEPALIVE stay within 4096 even when extended messages are negotiated.
  const max = type === MessageType.Open || type === MessageType.Keepalive ? MAX_MESSAGE_LEN : maxLen;
  if (len < min || len > max || (type === MessageType.Keepalive && len !== HEADER_LEN)) {
    throw new BgpError(
      ErrorCode.Header,
      HeaderSubcode.BadMessageLength,
      `Cannot frame message of type ${type}: length is ${len}, expected ${min}..${max}`,
      { data: Uint8Array.of(hdr[off + 16] as number, hdr[off + 17] as number) },
    );
  }
  return len;
}

/**
 * @example
 * const framer = new MessageFramer();
 * socket.on('data', (chunk) => {
 *   framer.push(chunk);
 *   for (let m = framer.pull(); m; m = framer.pull()) onMessage(decodeMessage(m, ctx));
 * });
 */
export class MessageFramer {
  readonly #chunks: Buffer[] = [];
  /** Read offset into #chunks[0]. */
  #head = 0;
  #buffered = 0;
  #maxLen: number;
  #error: BgpError | undefined = undefined;
  readonly #hdr = Buffer.allocUnsafe(HEADER_LEN);

  constructor(opts: { extendedMessage?: boolean } = {}) {
    this.#maxLen = opts.extendedMessage ? MAX_EXTENDED_MESSAGE_LEN : MAX_MESSAGE_LEN;
  }

  /** RFC 8654: call once both sides advertised the Extended Message capability. */
  setExtendedMessage(enabled: boolean): void {
    this.#maxLen = enabled ? MAX_EXTENDED_MESSAGE_LEN : MAX_MESSAGE_LEN;
  }

  /** Bytes received and not yet pulled. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Append a received chunk. The framer keeps a reference: don't reuse the chunk's memory. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /**
   * The next complete message (header included), as a view when it lies in one chunk, or undefined when
   * more bytes are needed. Throws a `BgpError` (Header) on a bad header.
   */
  pull(): Buffer | undefined {
    if (this.#error) throw this.#error;
    if (this.#buffered < HEADER_LEN) return undefined;
    const first = this.#chunks[0] as Buffer;
    let len: number;
    try {
      if (first.length - this.#head >= HEADER_LEN) len = checkHeader(first, this.#head, this.#maxLen);
      else {
        this.#peek(this.#hdr, HEADER_LEN);
        len = checkHeader(this.#hdr, 0, this.#maxLen);
      }
    } catch (e) {
      this.#error = e as BgpError;
      throw e;
    }
    if (this.#buffered < len) return undefined;
    return this.#consume(len);
  }

  /** Copy the first `n` buffered bytes into `out` without consuming them. */
  #peek(out: Buffer, n: number): void {
    let copied = 0;
    let off = this.#head;
    for (const c of this.#chunks) {
      const take = Math.min(n - copied, c.length - off);
      c.copy(out, copied, off, off + take);
      copied += take;
      off = 0;
      if (copied === n) return;
    }
  }

  #consume(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0] as Buffer;
    const avail = first.length - this.#head;
    if (avail >= n) {
      const view = first.subarray(this.#head, this.#head + n);
      if (avail === n) {
        this.#chunks.shift();
        this.#head = 0;
      } else this.#head += n;
      return view;
    }
    // Straddles chunks: the one copy.
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const c = this.#chunks[0] as Buffer;
      const take = Math.min(n - copied, c.length - this.#head);
      c.copy(out, copied, this.#head, this.#head + take);
      copied += take;
      if (this.#head + take === c.length) {
        this.#chunks.shift();
        this.#head = 0;
      } else this.#head += take;
    }
    return out;
  }
}
