/**
 * Cheap, frequent questions to a receiver daemon while it ingests: one persistent connection to its
 * control socket instead of a `birdc`/`vtysh` process per poll (a process start costs a few ms of CPU on a
 * 2-core machine, which the receiver would pay for).
 *
 * - `BirdControl`: BIRD's CLI socket (the protocol `birdc` speaks): a command line in; reply lines
 *   `DDDD-text` (more follows), ` text` (continuation) and a last `DDDD text`.
 * - `FrrVty`: bgpd's vtysh socket: the command NUL-terminated in; the output, then `\0\0\0<status>`.
 * - `NetnsHttp`: HTTP GETs from inside a network namespace (a status API on 127.0.0.1 there), through one
 *   small `node` helper process started with `ip netns exec`; requests and answers as JSON lines.
 *
 * One request at a time per connection (the daemons answer in order anyway).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

abstract class LineClient {
  protected readonly sock: Socket;
  #queue: Promise<unknown> = Promise.resolve();
  #buf = '';
  #waiter: ((text: string) => void) | undefined;
  #failer: ((e: Error) => void) | undefined;
  #error: Error | undefined;

  protected constructor(path: string) {
    this.sock = createConnection(path);
    this.sock.setEncoding('latin1');
    this.sock.on('data', (d: string) => {
      this.#buf += d;
      this.#check();
    });
    const fail = (e: Error) => {
      this.#error = e;
      this.#failer?.(e);
    };
    this.sock.on('error', (e) => fail(new Error(`Cannot talk to ${path}: ${e.message}`, { cause: e })));
    this.sock.on('close', () => fail(new Error(`Cannot talk to ${path}: connection closed`)));
  }

  /** Index just past the end of a complete reply in `buf`, or -1. */
  protected abstract replyEnd(buf: string): number;
  protected abstract frame(cmd: string): string;

  #check(): void {
    if (!this.#waiter) return;
    const end = this.replyEnd(this.#buf);
    if (end < 0) return;
    const text = this.#buf.slice(0, end);
    this.#buf = this.#buf.slice(end);
    const w = this.#waiter;
    this.#waiter = undefined;
    this.#failer = undefined;
    w(text);
  }

  /** Sends `cmd`, resolves with the whole reply. */
  ask(cmd: string): Promise<string> {
    const next = this.#queue.then(
      () =>
        new Promise<string>((resolve, reject) => {
          if (this.#error) {
            reject(this.#error);
            return;
          }
          this.#waiter = resolve;
          this.#failer = reject;
          this.sock.write(this.frame(cmd));
          this.#check();
        }),
    );
    this.#queue = next.catch(() => {});
    return next;
  }

  close(): void {
    this.sock.destroy();
  }
}

export class BirdControl extends LineClient {
  #greeted: Promise<string>;

  private constructor(path: string) {
    super(path);
    // The greeting ("0001 BIRD 2.0.12 ready.") is a reply of its own.
    this.#greeted = this.ask('');
  }

  static async connect(path: string): Promise<BirdControl> {
    const c = new BirdControl(path);
    await c.#greeted;
    return c;
  }

  protected frame(cmd: string): string {
    return cmd === '' ? '' : `${cmd}\n`;
  }

  protected replyEnd(buf: string): number {
    // The last line of a reply: four digits and a space.
    const re = /(^|\n)\d{4} [^\n]*\n/g;
    const m = re.exec(buf);
    return m ? m.index + m[0].length : -1;
  }

  /** "Routes: N imported" of `show protocols all <proto>`, or 0 while the channel is not up. */
  async imported(proto: string): Promise<number> {
    const text = await this.ask(`show protocols all ${proto}`);
    const m = /Routes:\s+(\d+) imported/.exec(text);
    return m ? Number(m[1]) : 0;
  }
}

export class FrrVty extends LineClient {
  private constructor(path: string) {
    super(path);
  }

  static async connect(path: string): Promise<FrrVty> {
    const c = new FrrVty(path);
    await new Promise<void>((res, rej) => {
      c.sock.once('connect', res);
      c.sock.once('error', rej);
    });
    return c;
  }

  protected frame(cmd: string): string {
    return `${cmd}\0`;
  }

  protected replyEnd(buf: string): number {
    const i = buf.indexOf('\0\0\0');
    return i >= 0 && buf.length >= i + 4 ? i + 4 : -1;
  }

  /** The command's output without the status trailer. */
  async command(cmd: string): Promise<string> {
    const text = await this.ask(cmd);
    return text.slice(0, -4);
  }
}

const HELPER = `
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const { id, url } = JSON.parse(line);
  try {
    const r = await fetch(url);
    process.stdout.write(JSON.stringify({ id, status: r.status, body: await r.text() }) + '\\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ id, error: String(e && e.message || e) }) + '\\n');
  }
});
rl.on('close', () => process.exit(0));
`;

export class NetnsHttp {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (b: string) => void; reject: (e: Error) => void }>();
  #next = 0;

  constructor(netns: string) {
    this.#child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', HELPER], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.#child.on('error', () => {});
    const rl = createInterface({ input: this.#child.stdout! });
    rl.on('line', (line) => {
      const m = JSON.parse(line) as { id: number; status?: number; body?: string; error?: string };
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else if (m.status !== 200) p.reject(new Error(`HTTP ${m.status}: ${(m.body ?? '').slice(0, 200)}`));
      else p.resolve(m.body ?? '');
    });
  }

  get(url: string): Promise<string> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.stdin!.write(`${JSON.stringify({ id, url })}\n`);
    });
  }

  close(): void {
    this.#child.stdin?.end();
    for (const p of this.#pending.values()) p.reject(new Error('closed'));
    this.#pending.clear();
  }
}
