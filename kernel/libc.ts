/**
 * The few libc calls kernel/ makes through koffi (TCP-MD5 setsockopt, the netlink socket), bound once and
 * lazily: nothing is loaded until the first call, so importing a module that may need them costs nothing.
 */
import koffi from 'koffi';
import { CaracalError, ErrorCodes } from '../common/errors.js';

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, len: Buffer): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  /**
   * send(2) on a libuv thread-pool thread (koffi's async call): the calling thread's event loop runs on while
   * the kernel works (a netlink request is handled inside the sendmsg that carries it). Resolves with send's
   * return value; errno is not available (it belongs to the pool thread).
   */
  sendAsync(fd: number, buf: Buffer, len: number, flags: number): Promise<number>;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
  strerror(errnum: number): string;
  open(path: string, flags: number): number;
  setns(fd: number, nstype: number): number;
}

let bound: Libc | undefined;

export function libc(): Libc {
  if (!bound) {
    const h = koffi.load('libc.so.6');
    const send = h.func('intptr_t send(int, void *, size_t, int)');
    bound = {
      sendAsync: (fd: number, buf: Buffer, len: number, flags: number) =>
        new Promise<number>((resolve, reject) => {
          send.async(fd, buf, len, flags, (err: unknown, n: number | bigint) => {
            if (err) reject(err instanceof Error ? err : new Error(String(err)));
            else resolve(Number(n));
          });
        }),
      socket: h.func('int socket(int, int, int)'),
      bind: h.func('int bind(int, void *, uint32_t)'),
      setsockopt: h.func('int setsockopt(int, int, int, void *, uint32_t)'),
      getsockopt: h.func('int getsockopt(int, int, int, void *, void *)'),
      send,
      recv: h.func('intptr_t recv(int, _Out_ void *, size_t, int)'),
      close: h.func('int close(int)'),
      strerror: h.func('const char *strerror(int)'),
      open: h.func('int open(const char *, int)'),
      setns: h.func('int setns(int, int)'),
    } as Libc;
  }
  return bound;
}

/** errno of the last libc call made through koffi on this thread. */
export const lastErrno = (): number => koffi.errno();

/** `Cannot <what>: <strerror> (errno N)`, an INTERNAL CaracalError with `details.errno` (and `details`). */
export function errnoError(what: string, errno = lastErrno(), details: Record<string, unknown> = {}): CaracalError {
  return new CaracalError(ErrorCodes.Internal, `Cannot ${what}: ${libc().strerror(errno)} (errno ${errno})`, {
    details: { errno, ...details },
  });
}
