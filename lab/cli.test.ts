/**
 * `caracal lab …` end to end, as a person runs it: every call is a separate process (so `down` and `status`
 * find the lab through its state file), with a private state root so other labs on the machine do not matter.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exitCodeOf } from './cli.js';
import { type LabStatus, netnsPrefix } from './lab.js';
import { listNetns } from './netns.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const isRoot = process.getuid?.() === 0;
const skip = !isRoot
  ? 'needs root (network namespaces)'
  : !have('bird') || !existsSync('/usr/lib/frr/bgpd')
    ? 'needs bird and frr'
    : false;
const PING = have('ping') ? ['ping'] : ['busybox', 'ping'];

const stateRoot = mkdtempSync(join(tmpdir(), 'caracal-lab-cli-test-'));
after(() => rmSync(stateRoot, { recursive: true, force: true }));

/** Runs `caracal ARGS` through node/cli.ts (unbuilt, via tsx) and returns exit code and output. */
function caracal(...args: string[]): { code: number; stdout: string; stderr: string } {
  const code = `const m = await import(${JSON.stringify(join(REPO, 'node/cli.ts'))}); await m.main(process.argv.slice(1));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, '--', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const uniqueName = (base: string) => `${base}-${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;

describe('caracal lab: usage errors exit 2 with a message', () => {
  const cases: [string[], RegExp][] = [
    [['lab'], /no verb given/],
    [['lab', 'frobnicate'], /unknown verb "frobnicate"/],
    [['lab', 'up'], /up needs a topology FILE/],
    [['lab', 'down'], /down needs a lab NAME \(or --all\)/],
    [['lab', 'down', 'x', '--all'], /either NAME or --all/],
    [['lab', 'exec', 'x', 'node1'], /exec needs "-- CMD\.\.\." after the target/],
    [['lab', 'status', '--bogus'], /unknown option "--bogus"/],
    [['lab', 'up', 'f.yaml', '--wait', 'soon'], /--wait must be a number of seconds/],
  ];
  for (const [args, re] of cases) {
    it(`caracal ${args.join(' ')}`, () => {
      const r = caracal(...args, '--state-root', stateRoot);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.match(r.stderr, /Usage: caracal lab/);
    });
  }
});

describe('caracal lab', { skip }, () => {
  it('up prints the summary; status, exec and down work from other processes; nothing is left', () => {
    const name = uniqueName('cli');
    const up = caracal(
      'lab',
      'up',
      join(REPO, 'lab/examples/three-nodes-tor.yaml'),
      '--name',
      name,
      '--state-root',
      stateRoot,
    );
    try {
      assert.equal(up.code, 0, up.stderr);
      assert.match(
        up.stdout,
        new RegExp(`Lab "${name}" is up: built in \\d+\\.\\d\\d s; sessions between its routers Established`),
      );
      assert.match(up.stdout, /^pod3b\s+node3\s+10\.244\.3\.3\/32\s+cali[0-9a-f]{11}$/m);
      assert.match(up.stdout, /^upstream\s+frr\s+65001\s+10\.0\.9\.2\s+\d+\s+10\.0\.9\.1\s+Established$/m);
      assert.match(up.stdout, /^tor\s+bird\s+65000\s+10\.0\.0\.1\s+\d+\s+10\.0\.1\.2\s+(Active|Connect|Idle)/m);
      assert.match(up.stdout, /timings: \d+\.\d\d s total \(validate \d+ ms, netns \d+ ms/);

      const list = caracal('lab', 'status', '--state-root', stateRoot);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, new RegExp(`^${name}\\s+up\\s+3\\s+6\\s+2$`, 'm'));

      const json = caracal('lab', 'status', name, '--json', '--state-root', stateRoot);
      assert.equal(json.code, 0, json.stderr);
      const st = JSON.parse(json.stdout) as LabStatus;
      assert.equal(st.name, name);
      assert.deepEqual(
        st.routers.map((r) => [r.name, r.alive]),
        [
          ['tor', true],
          ['upstream', true],
        ],
      );
      assert.equal(st.routers[1]?.sessions[0]?.state, 'Established');

      const seven = caracal(
        'lab',
        'exec',
        name,
        'pod1a',
        '--state-root',
        stateRoot,
        '--',
        'sh',
        '-c',
        'echo hi; exit 7',
      );
      assert.equal(seven.code, 7);
      assert.equal(seven.stdout, 'hi\n');
      const pingAcross = caracal(
        'lab',
        'exec',
        name,
        'pod1a',
        '--state-root',
        stateRoot,
        '--',
        ...PING,
        '-c',
        '1',
        '-W',
        '2',
        '10.244.3.3',
      );
      assert.equal(pingAcross.code, 0, pingAcross.stdout + pingAcross.stderr);
      // Exactly one lab is up in this state root, so the lab name may be left out (the issue's `exec NODE -- CMD`).
      const short = caracal(
        'lab',
        'exec',
        'node2',
        '--state-root',
        stateRoot,
        '--',
        'ip',
        '-o',
        'addr',
        'show',
        'dev',
        'l1-tor',
      );
      assert.equal(short.code, 0, short.stderr);
      assert.match(short.stdout, /inet 10\.0\.2\.2\/30/);
      const unknown = caracal('lab', 'exec', name, 'node9', '--state-root', stateRoot, '--', 'true');
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /Cannot find "node9" in lab/);
    } finally {
      const down = caracal('lab', 'down', name, '--state-root', stateRoot);
      assert.equal(down.code, 0, down.stderr);
      assert.match(down.stdout, new RegExp(`Tore down: ${name}`));
    }
    assert.deepEqual(
      listNetns().filter((n) => n.startsWith(netnsPrefix(name))),
      [],
    );
    assert.equal(existsSync(join(stateRoot, name)), false);
    const again = caracal('lab', 'down', name, '--state-root', stateRoot);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Cannot tear down lab ".*": no state/);
  });

  it('exec without a lab name needs exactly one lab; down --all takes every lab of the state root', () => {
    const file = join(stateRoot, 'one-node.yaml');
    writeFileSync(file, 'name: one\nnodes: [{ name: n1 }]\npods: [{ name: p1, node: n1, ip: 10.244.0.2 }]\n');
    const a = uniqueName('all');
    const b = uniqueName('all');
    try {
      for (const n of [a, b]) assert.equal(caracal('lab', 'up', file, '--name', n, '--state-root', stateRoot).code, 0);
      const ambiguous = caracal('lab', 'exec', 'n1', '--state-root', stateRoot, '--', 'true');
      assert.equal(ambiguous.code, 2);
      assert.match(ambiguous.stderr, /2 labs are up/);
    } finally {
      const all = caracal('lab', 'down', '--all', '--state-root', stateRoot);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /Tore down: /);
    }
    for (const n of [a, b])
      assert.deepEqual(
        listNetns().filter((x) => x.startsWith(netnsPrefix(n))),
        [],
      );
  });

  it('up of an invalid topology exits 1 with the path of the problem and builds nothing', () => {
    const file = join(stateRoot, 'bad.yaml');
    writeFileSync(file, 'name: bad\nnodes: [{ name: n1 }]\nlinks:\n  - { a: n1, b: tor2 }\n');
    const r = caracal('lab', 'up', file, '--state-root', stateRoot);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /links\[0\]\.b: unknown endpoint "tor2"/);
    assert.equal(existsSync(join(stateRoot, 'bad')), false);
  });
});

describe('exitCodeOf()', () => {
  it('is the exit code, or 128 + the number of the signal that killed the command', () => {
    assert.equal(exitCodeOf(3, null), 3);
    assert.equal(exitCodeOf(null, 'SIGINT'), 130);
    assert.equal(exitCodeOf(null, 'SIGTERM'), 143);
    assert.equal(exitCodeOf(null, 'SIGKILL'), 137);
    assert.equal(exitCodeOf(null, 'SIGHUP'), 129, 'not reported as a SIGKILL');
    assert.equal(exitCodeOf(null, 'SIGSEGV'), 139);
  });
});
