/**
 * Network namespaces from inside one Node process, through koffi: open a namespace file (`/run/netns/x`,
 * `/proc/<pid>/ns/net`) and run a *synchronous* function with the calling thread switched into it by setns(2),
 * switching back afterwards. What it is for: opening a netlink socket that stays bound to a pod's namespace
 * (a socket keeps the namespace it was created in), and writing that namespace's /proc/sys/net files.
 *
 * Hazards: setns changes only the calling thread (Node's main thread here), never libuv's thread pool, so
 * `fn` must be synchronous and must not start asynchronous I/O that would run elsewhere; an exception in
 * `fn` still switches back. Failing to switch back is fatal (the thread would keep working in the pod's
 * namespace), so that case throws an INTERNAL error the caller must not swallow.
 *
 * Leaves out: other namespace types, creating namespaces (the runtime makes them; tests use `ip netns add`).
 */
import { errnoError, lastErrno, libc } from './libc.js';

const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const CLONE_NEWNET = 0x40000000;
export const ENOENT = 2;

/**
 * Open a network namespace file; the fd is what IFLA_NET_NS_FD and `withNetns` take. Throws a CaracalError
 * whose `details.errno` is ENOENT (2) when the namespace file does not exist.
 */
export function openNetns(path: string): number {
  const fd = libc().open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw errnoError(`open network namespace "${path}"`, lastErrno(), { path });
  return fd;
}

export function closeFd(fd: number): void {
  if (fd >= 0) libc().close(fd);
}

/**
 * Run `fn` with the calling thread inside the namespace behind `fd`, then switch back.
 * @example const podNl = withNetns(fd, () => NetlinkSocket.open());
 */
export function withNetns<T>(fd: number, fn: () => T): T {
  const self = openNetns('/proc/thread-self/ns/net');
  try {
    if (libc().setns(fd, CLONE_NEWNET) < 0) throw errnoError('enter network namespace: setns');
    try {
      return fn();
    } finally {
      if (libc().setns(self, CLONE_NEWNET) < 0) {
        // biome-ignore lint/correctness/noUnsafeFinally: staying in the wrong namespace must not go unnoticed
        throw errnoError('return to the original network namespace: setns');
      }
    }
  } finally {
    libc().close(self);
  }
}
