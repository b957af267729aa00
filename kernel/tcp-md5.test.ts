/**
 * Unit tests of the struct layout, and a real test in two network namespaces joined by a veth: a server with
 * the key on its listening fd, clients with the same key, a wrong key and no key. Each end runs as a child
 * process (`ip netns exec`) that re-runs this file in a role chosen by MD5_TEST_ROLE. Needs root; skips
 * with a message otherwise.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isCaracalError } from '../common/errors.js';
import {
  createMd5Socket,
  encodeTcpMd5Sig,
  md5Socket,
  setTcpMd5,
  socketFamilyOf,
  TCP_MD5SIG_SIZE,
  tcpFd,
} from './tcp-md5.js';

const SELF = fileURLToPath(import.meta.url);
const PORT = 17_900;
const role = process.env.MD5_TEST_ROLE;

/** Child role "server": listen, key for the client, print "ready", answer every connection with "hi". */
function runServer(listen: string, client: string, key: string): void {
  const server = createServer((s) => {
    s.end('hi');
  });
  server.listen(PORT, listen, () => {
    setTcpMd5(tcpFd(server)!, client, key);
    process.stdout.write('ready\n');
  });
}

/** Child role "client": connect with `key` (or none), print "connected" or "timeout"/"error <msg>". */
function runClient(server: string, key: string | undefined): void {
  const s: Socket = key === undefined ? new Socket() : md5Socket(server, key);
  const timer = setTimeout(() => {
    process.stdout.write('timeout\n');
    process.exit(0);
  }, 1500);
  s.on('error', (e) => {
    process.stdout.write(`error ${e.message}\n`);
    process.exit(0);
  });
  s.connect({ host: server, port: PORT }, () => {
    clearTimeout(timer);
    s.once('data', (d) => {
      process.stdout.write(`connected ${d.toString()}\n`);
      process.exit(0);
    });
  });
}

if (role === 'server') runServer(process.env.MD5_LISTEN!, process.env.MD5_PEER!, process.env.MD5_KEY!);
else if (role === 'client') runClient(process.env.MD5_SERVER!, process.env.MD5_KEY || undefined);
else tests();

function tests(): void {
  describe('encodeTcpMd5Sig()', () => {
    it('`encodeTcpMd5Sig()` lays out sockaddr_in, keylen at 130 and the key at 136 for an IPv4 socket', () => {
      const b = encodeTcpMd5Sig('192.0.2.7', 's3cret', 4);
      assert.equal(b.length, TCP_MD5SIG_SIZE);
      assert.equal(b.readUInt16LE(0), 2);
      assert.deepEqual([...b.subarray(4, 8)], [192, 0, 2, 7]);
      assert.equal(b.readUInt16LE(130), 6);
      assert.equal(b.subarray(136, 142).toString(), 's3cret');
    });
    it('`encodeTcpMd5Sig()` writes sockaddr_in6 with the address at offset 8', () => {
      const b = encodeTcpMd5Sig('fd00::1:2', 'k', 6);
      assert.equal(b.readUInt16LE(0), 10);
      assert.equal(b.subarray(8, 24).toString('hex'), 'fd000000000000000000000000010002');
    });
    it('`encodeTcpMd5Sig()` maps an IPv4 peer to ::ffff:a.b.c.d on an IPv6 socket', () => {
      const b = encodeTcpMd5Sig('10.1.2.3', 'k', 6);
      assert.equal(b.subarray(8, 24).toString('hex'), '00000000000000000000ffff0a010203');
    });
    it('`encodeTcpMd5Sig()` writes keylen 0 to delete a key', () => {
      assert.equal(encodeTcpMd5Sig('10.1.2.3', undefined, 4).readUInt16LE(130), 0);
    });
    it('`encodeTcpMd5Sig()` refuses an 81-byte key and a non-address', () => {
      assert.throws(
        () => encodeTcpMd5Sig('10.1.2.3', 'x'.repeat(81), 4),
        (e) => isCaracalError(e, 'INVALID_CONFIG'),
      );
      assert.throws(
        () => encodeTcpMd5Sig('peer.example', 'k', 4),
        (e) => isCaracalError(e, 'INVALID_CONFIG'),
      );
      assert.throws(
        () => encodeTcpMd5Sig('fd00::1', 'k', 4),
        (e) => isCaracalError(e, 'INVALID_CONFIG'),
      );
    });
  });

  describe('setTcpMd5() on real sockets', () => {
    it('`setTcpMd5()` sets and removes a key on a listening IPv6 socket for an IPv4 and an IPv6 peer', async () => {
      const server = createServer().listen(0, '::');
      await new Promise((r) => server.once('listening', r));
      try {
        const fd = tcpFd(server)!;
        assert.equal(socketFamilyOf(fd), 6);
        setTcpMd5(fd, '192.0.2.1', 'key1');
        setTcpMd5(fd, '2001:db8::1', 'key2');
        setTcpMd5(fd, '192.0.2.1', undefined);
        setTcpMd5(fd, '192.0.2.1', undefined); // already gone: not an error
      } finally {
        server.close();
      }
    });
    it('`setTcpMd5()` reports the errno text as a CaracalError on a bad fd', () => {
      assert.throws(
        () => setTcpMd5(1_000_000, '192.0.2.1', 'k'),
        (e) => isCaracalError(e, 'INTERNAL') && /Bad file descriptor/.test(e.message),
      );
    });
    it('`createMd5Socket()` returns an IPv4 fd with the key set', () => {
      const fd = createMd5Socket(4, '192.0.2.1', 'k');
      assert.equal(socketFamilyOf(fd), 4);
      const s = md5Socket('192.0.2.1', 'k');
      s.destroy();
      new Socket({ fd }).destroy();
    });
  });

  const isRoot = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list']).status === 0;
  describe('TCP-MD5 between two network namespaces', { skip: isRoot ? false : 'needs root and ip netns' }, () => {
    const tag = `${process.pid % 100000}`;
    const A = `cmd5a${tag}`;
    const B = `cmd5b${tag}`;
    const ip = (...args: string[]) => {
      const r = spawnSync('ip', args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
    };
    const children: ReturnType<typeof spawn>[] = [];

    before(() => {
      ip('netns', 'add', A);
      ip('netns', 'add', B);
      ip('link', 'add', `m5a${tag}`, 'netns', A, 'type', 'veth', 'peer', 'name', `m5b${tag}`, 'netns', B);
      for (const [ns, dev, v4, v6] of [
        [A, `m5a${tag}`, '10.77.0.1/24', 'fd00:77::1/64'],
        [B, `m5b${tag}`, '10.77.0.2/24', 'fd00:77::2/64'],
      ] as const) {
        ip('-n', ns, 'addr', 'add', v4, 'dev', dev);
        ip('-n', ns, 'addr', 'add', v6, 'dev', dev, 'nodad');
        ip('-n', ns, 'link', 'set', dev, 'up');
        ip('-n', ns, 'link', 'set', 'lo', 'up');
      }
    });
    after(() => {
      for (const c of children) c.kill('SIGKILL');
      spawnSync('ip', ['netns', 'del', A]);
      spawnSync('ip', ['netns', 'del', B]);
    });

    const child = (ns: string, env: Record<string, string>) =>
      spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', SELF], {
        env: { ...process.env, NODE_TEST_CONTEXT: '', ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
    const firstLine = (c: ReturnType<typeof spawn>): Promise<string> =>
      new Promise((resolve) => {
        let buf = '';
        c.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          const nl = buf.indexOf('\n');
          if (nl >= 0) resolve(buf.slice(0, nl));
        });
        c.on('exit', () => resolve(buf.trim() || 'exited'));
      });

    for (const fam of ['IPv4', 'IPv6'] as const) {
      const [srv, cli, listen] =
        fam === 'IPv4' ? ['10.77.0.1', '10.77.0.2', '0.0.0.0'] : ['fd00:77::1', 'fd00:77::2', '::'];
      it(`\`setTcpMd5()\` on a listening socket admits only a client with the same key (${fam})`, async () => {
        const server = child(A, { MD5_TEST_ROLE: 'server', MD5_LISTEN: listen, MD5_PEER: cli, MD5_KEY: 's3cret' });
        children.push(server);
        assert.equal(await firstLine(server), 'ready');
        const connect = async (key: string) =>
          firstLine(child(B, { MD5_TEST_ROLE: 'client', MD5_SERVER: srv, MD5_KEY: key }));
        const [same, wrong, none] = await Promise.all([connect('s3cret'), connect('wrong'), connect('')]);
        assert.equal(same, 'connected hi');
        assert.equal(wrong, 'timeout');
        assert.equal(none, 'timeout');
        server.kill('SIGKILL');
      });
    }
  });

  const hasBird = spawnSync('bird', ['--version']).status === 0;
  describe('TCP-MD5 against BIRD 2 on loopback', { skip: hasBird ? false : 'bird is not installed' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'caracal-md5-bird-'));
    const base = 21_000 + (process.pid % 20_000);
    let bird: ReturnType<typeof spawn> | undefined;
    const server = createServer();
    const opens: string[] = [];
    server.on('connection', (s) => {
      s.once('data', (d: Buffer) => opens.push(d.subarray(0, 19).toString('hex')));
      s.on('error', () => {});
    });
    before(async () => {
      server.listen(base + 1, '127.0.0.43');
      await new Promise((r) => server.once('listening', r));
      setTcpMd5(tcpFd(server)!, '127.0.0.44', 's3cret');
      writeFileSync(
        join(dir, 'bird.conf'),
        [
          'router id 127.0.0.42;',
          'protocol bgp passive_md5 {',
          `  local 127.0.0.42 port ${base} as 65001; neighbor 127.0.0.41 as 65000;`,
          '  passive on; multihop 2; password "s3cret"; ipv4 { import none; export none; };',
          '}',
          'protocol bgp active_md5 {',
          `  local 127.0.0.44 as 65001; neighbor 127.0.0.43 port ${base + 1} as 65000;`,
          '  multihop 2; password "s3cret"; connect delay time 1; connect retry time 2;',
          '  ipv4 { import none; export none; };',
          '}',
        ].join('\n'),
      );
      bird = spawn(
        'bird',
        ['-f', '-c', join(dir, 'bird.conf'), '-s', join(dir, 'bird.ctl'), '-P', join(dir, 'bird.pid')],
        {
          stdio: 'ignore',
        },
      );
      await new Promise((r) => setTimeout(r, 500));
    });
    after(() => {
      bird?.kill('SIGKILL');
      server.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const OPEN_HEADER = /^f{32}[0-9a-f]{4}01$/;

    /** Connects from 127.0.0.41 to BIRD's passive side; resolves with the first 19 bytes in hex, or "timeout". */
    const dialBird = (key: string | undefined): Promise<string> =>
      new Promise((resolve) => {
        const s = key === undefined ? new Socket() : md5Socket('127.0.0.42', key);
        const t = setTimeout(() => {
          s.destroy();
          resolve('timeout');
        }, 1500);
        s.on('error', () => {});
        s.once('data', (d: Buffer) => {
          clearTimeout(t);
          s.destroy();
          resolve(d.subarray(0, 19).toString('hex'));
        });
        s.connect({ host: '127.0.0.42', port: base, localAddress: '127.0.0.41' });
      });

    it('`md5Socket()` with the right key gets an OPEN from BIRD; a wrong key and no key get nothing', async () => {
      assert.match(await dialBird('s3cret'), OPEN_HEADER);
      assert.equal(await dialBird('wrong'), 'timeout');
      assert.equal(await dialBird(undefined), 'timeout');
    });
    it('`setTcpMd5()` on a listening socket accepts BIRD dialling with the same password', async () => {
      for (let i = 0; i < 40 && opens.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(opens[0] ?? 'none', OPEN_HEADER);
    });
  });
}
