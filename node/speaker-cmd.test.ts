import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isCaracalError } from '../common/errors.js';
import { SPEAKER_V8_FLAGS } from './cli.js';
import { childExecArgv, loadSpeakerConfig, loadSpeakerConfigIsolated } from './speaker-cmd.js';

describe('loadSpeakerConfigIsolated()', () => {
  const dir = mkdtempSync(join(tmpdir(), 'caracal-speaker-cfg-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('loadSpeakerConfigIsolated() returns what loadSpeakerConfig() returns, defaults applied (YAML)', async () => {
    const file = write(
      'ok.yaml',
      [
        'asn: 64512',
        'routerId: 10.0.0.1',
        'peers:',
        '  - { address: 10.0.0.2, asn: 64513, password: s3cret, import: mine }',
        'originate: [10.244.1.0/26, "fd00:10:244:1::/122"]',
        'policies:',
        '  mine: { rules: [{ match: { prefix: [{ cidr: 10.0.0.0/8, le: 24 }] }, actions: { setMed: 5 } }] }',
        '',
      ].join('\n'),
    );
    const isolated = await loadSpeakerConfigIsolated(file);
    assert.deepEqual(isolated, await loadSpeakerConfig(file));
    assert.equal(isolated.peers[0]?.holdTimeSec, 90, 'a schema default, filled in by the child');
    assert.equal(isolated.listen.port, 179);
  });

  it('loadSpeakerConfigIsolated() rejects with the same INVALID_CONFIG error as loadSpeakerConfig()', async () => {
    const file = write('bad.json', JSON.stringify({ asn: 64512, routerId: '10.0.0.1', peers: [{ address: 'x' }] }));
    const inProcess = await loadSpeakerConfig(file).then(
      () => assert.fail('the config is invalid'),
      (e: unknown) => e,
    );
    await assert.rejects(loadSpeakerConfigIsolated(file), (e: unknown) => {
      assert.ok(isCaracalError(e, 'INVALID_CONFIG'), String(e));
      assert.ok(isCaracalError(inProcess));
      assert.equal(e.message, inProcess.message);
      assert.match(e.message, /peers\[0\]\.address/);
      return true;
    });
  });

  it('loadSpeakerConfigIsolated() names the file when it cannot be read', async () => {
    await assert.rejects(loadSpeakerConfigIsolated(join(dir, 'missing.yaml')), (e: unknown) => {
      assert.ok(isCaracalError(e, 'INVALID_CONFIG'));
      assert.match(e.message, /missing\.yaml/);
      return true;
    });
  });
});

describe('childExecArgv()', () => {
  it('childExecArgv() keeps loader flags with their values and drops debugger, test and profiling flags', () => {
    assert.deepEqual(
      childExecArgv([
        '--inspect=9229',
        '--import',
        'tsx',
        '--test',
        '--test-reporter=spec',
        '--require=./x.cjs',
        '--cpu-prof',
        '--conditions',
        'development',
      ]),
      ['--import', 'tsx', '--require=./x.cjs', '--conditions', 'development'],
    );
  });
});

describe('SPEAKER_V8_FLAGS', () => {
  // V8 ignores a flag it does not know, so a Node upgrade that drops or renames this one would silently
  // bring back a 32 MiB young generation: this test notices.
  const newSpaceMiB = (flags: string): number => {
    const code = `const v8 = require('node:v8');
      if (process.argv[1]) v8.setFlagsFromString(process.argv[1]);
      let keep = [];
      for (let i = 0; i < 3e6; i++) { keep.push({ a: i, b: [i] }); if (keep.length > 20000) keep = []; }
      const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
      process.stdout.write(String(s.physical_space_size / 1048576));`;
    const r = spawnSync(process.execPath, ['-e', code, '--', flags], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    return Number(r.stdout);
  };
  it('SPEAKER_V8_FLAGS keeps the young generation at its initial size under allocation pressure', () => {
    const defaults = newSpaceMiB('');
    const speaker = newSpaceMiB(SPEAKER_V8_FLAGS);
    assert.ok(defaults > 8, `control: V8's defaults grow the young generation (got ${defaults} MiB)`);
    assert.ok(speaker <= 4, `with ${SPEAKER_V8_FLAGS}: ${speaker} MiB`);
  });
});
