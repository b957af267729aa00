/** Time as a port, so pure logic and reconcilers are testable without sleeping (STYLE §2.4). */
export interface Clock {
  now(): number; // milliseconds since the epoch
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Exponential backoff with full jitter: a delay in [0, min(maxMs, baseMs * 2^attempt)). */
export function backoffMs(attempt: number, baseMs = 200, maxMs = 30_000, rand: () => number = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(rand() * cap);
}

/**
 * `p`, or a rejection with `onTimeout()` if it has not settled within `ms` (the timer is cleared either way;
 * `p` itself keeps running: a promise cannot be cancelled).
 * @example await withTimeout(fetchIt(), 3000, () => new Error('no answer within 3000 ms'));
 */
export function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(onTimeout()), ms);
    }),
  ]).finally(() => clearTimeout(t));
}
