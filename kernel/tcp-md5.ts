/**
 * TCP-MD5 signatures (RFC 2385) on Node sockets, through koffi and libc: `setsockopt(IPPROTO_TCP, TCP_MD5SIG)`
 * on a listening fd (one key per peer address, set before the peer connects) or on a fd we create ourselves
 * for an active connection (the key must be in place before the SYN, so Node cannot create that socket).
 * The BGP session layer receives these as an injected port (speaker/ must not import kernel/).
 *
 * Hazards: the kernel silently drops segments with a missing or wrong signature, so a key mismatch looks like
 * a connect timeout, never an error. On an AF_INET6 socket (Node's default `::` listener) an IPv4 peer's key
 * must be given as an IPv4-mapped IPv6 address; `setTcpMd5` asks the socket its family (SO_DOMAIN) and maps.
 *
 * Leaves out: TCP-AO (RFC 5925), prefix keys (TCP_MD5SIG_EXT), VRF ifindex binding.
 */
import { isIPv4, isIPv6, Socket } from 'node:net';
import { CaracalError } from '../common/errors.js';
import { lastErrno, libc } from './libc.js';

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const IPPROTO_TCP = 6;
const SOL_SOCKET = 1;
const SO_DOMAIN = 39;
/** linux/tcp.h */
const TCP_MD5SIG = 14;
export const TCP_MD5SIG_MAXKEYLEN = 80;
/** sizeof(struct tcp_md5sig): sockaddr_storage 128, flags 1, prefixlen 1, keylen 2, ifindex 4, key 80. */
export const TCP_MD5SIG_SIZE = 216;
const OFF_KEYLEN = 130;
const OFF_KEY = 136;

function syscallError(what: string, peer: string): CaracalError {
  const errno = lastErrno();
  const text = libc().strerror(errno);
  return new CaracalError('INTERNAL', `Cannot ${what} for peer "${peer}": ${text} (errno ${errno})`, {
    details: { errno, peer },
  });
}

function ipv6Bytes(addr: string): Buffer {
  // Expand "::" and an embedded dotted quad, then write 8 groups.
  let a = addr.split('%')[0] ?? addr;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4?.[1]) {
    const p = v4[1].split('.').map(Number);
    a = `${a.slice(0, -v4[1].length)}${(((p[0] ?? 0) << 8) | (p[1] ?? 0)).toString(16)}:${(((p[2] ?? 0) << 8) | (p[3] ?? 0)).toString(16)}`;
  }
  const [head = '', tail] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => {
    out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return out;
}

/**
 * The `struct tcp_md5sig` for one peer (pure). `socketFamily` is the family of the socket the option goes on:
 * an IPv4 peer on an AF_INET6 socket is written as ::ffff:a.b.c.d. No key (undefined) deletes the peer's key.
 */
export function encodeTcpMd5Sig(
  peerAddress: string,
  key: string | Uint8Array | undefined,
  socketFamily: 4 | 6,
): Buffer {
  const keyBytes =
    key === undefined ? Buffer.alloc(0) : typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
  if (keyBytes.length > TCP_MD5SIG_MAXKEYLEN)
    throw new CaracalError(
      'INVALID_CONFIG',
      `Cannot set TCP-MD5 key for peer "${peerAddress}": key is ${keyBytes.length} bytes, at most ${TCP_MD5SIG_MAXKEYLEN} allowed`,
    );
  const v4 = isIPv4(peerAddress);
  if (!v4 && !isIPv6(peerAddress))
    throw new CaracalError(
      'INVALID_CONFIG',
      `Cannot set TCP-MD5 key: peer address "${peerAddress}" is not an IP address`,
    );
  if (!v4 && socketFamily === 4)
    throw new CaracalError('INVALID_CONFIG', `Cannot set TCP-MD5 key for IPv6 peer "${peerAddress}" on an IPv4 socket`);
  const buf = Buffer.alloc(TCP_MD5SIG_SIZE);
  if (socketFamily === 4) {
    buf.writeUInt16LE(AF_INET, 0); // sa_family is host order (little-endian on every platform we run on)
    Buffer.from(peerAddress.split('.').map(Number)).copy(buf, 4);
  } else {
    buf.writeUInt16LE(AF_INET6, 0);
    ipv6Bytes(v4 ? `::ffff:${peerAddress}` : peerAddress).copy(buf, 8);
  }
  buf.writeUInt16LE(keyBytes.length, OFF_KEYLEN);
  keyBytes.copy(buf, OFF_KEY);
  return buf;
}

/** The address family of a socket fd (SO_DOMAIN). */
export function socketFamilyOf(fd: number): 4 | 6 {
  const val = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(4, 0);
  if (libc().getsockopt(fd, SOL_SOCKET, SO_DOMAIN, val, len) !== 0)
    throw syscallError('read socket family', `fd ${fd}`);
  return val.readInt32LE(0) === AF_INET6 ? 6 : 4;
}

/**
 * Sets (or with `key` undefined, removes) the TCP-MD5 key for `peerAddress` on a socket fd: a listening socket
 * (`server._handle.fd`; accepted connections inherit the key) or an unconnected one from `createMd5Socket`.
 *
 * @example
 * const server = net.createServer(onConn).listen(179, () => setTcpMd5(tcpFd(server), '192.0.2.7', 's3cret'));
 */
export function setTcpMd5(fd: number, peerAddress: string, key: string | Uint8Array | undefined): void {
  const sig = encodeTcpMd5Sig(peerAddress, key, socketFamilyOf(fd));
  if (libc().setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, sig, sig.length) !== 0) {
    // Deleting a key that was never set is not an error worth failing for.
    if (key === undefined && lastErrno() === 2) return; // ENOENT
    throw syscallError(key === undefined ? 'remove TCP-MD5 key' : 'set TCP-MD5 key', peerAddress);
  }
}

/**
 * A new TCP socket fd with the MD5 key for `peerAddress` already set, for an active connection:
 * `new net.Socket({ fd }).connect({ host: peerAddress, port, localAddress })`. The caller owns the fd
 * (the Socket closes it once wrapped).
 */
export function createMd5Socket(family: 4 | 6, peerAddress: string, key: string | Uint8Array): number {
  const fd = libc().socket(family === 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw syscallError('create socket', peerAddress);
  try {
    setTcpMd5(fd, peerAddress, key);
  } catch (e) {
    libc().close(fd);
    throw e;
  }
  return fd;
}

/** A `net.Socket` with the MD5 key set, not yet connected. */
export function md5Socket(peerAddress: string, key: string | Uint8Array): Socket {
  return new Socket({ fd: createMd5Socket(isIPv6(peerAddress) ? 6 : 4, peerAddress, key) });
}

/** The fd of a listening `net.Server` or a `net.Socket` (Node keeps it on the private `_handle`), or undefined. */
export function tcpFd(s: unknown): number | undefined {
  const fd = (s as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
