/**
 * The one-way dependency rules of STYLE.md §2.2, checked on every source file's imports (static and dynamic).
 * A wrong import fails here, naming the file, the import and the rule. Test files (`*.test.ts`) may also
 * import test/ and lab/ (tests build on labs); nothing else imports lab/, test/ or bench/, except
 * `caracal lab` in node/cli.ts.
 *
 * Deliberate exception: model/ imports common/errors.ts so that validation errors are CaracalErrors with
 * stable codes (common/ has no domain knowledge, so no cycle is possible).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FOLDERS = [
  'model',
  'common',
  'datastore',
  'kernel',
  'speaker',
  'felix',
  'ipam',
  'cni',
  'node',
  'ctl',
  'lab',
  'test',
  'bench',
] as const;
type Folder = (typeof FOLDERS)[number];

/** Which of our folders each folder may import (itself always allowed). */
const ALLOWED: Record<Folder, readonly Folder[]> = {
  common: [],
  model: ['common'],
  datastore: ['model', 'common'],
  kernel: ['model', 'common'],
  speaker: ['model', 'common'],
  felix: ['model', 'common', 'kernel'],
  ipam: ['model', 'common', 'datastore'],
  cni: ['ipam', 'kernel', 'model', 'common', 'datastore'],
  node: ['model', 'common', 'datastore', 'kernel', 'speaker', 'felix', 'ipam', 'cni'],
  ctl: ['model', 'common', 'datastore', 'ipam'],
  lab: ['model', 'common', 'datastore', 'kernel'],
  test: [...FOLDERS],
  bench: [...FOLDERS],
};
/** Finer rules inside folders: [path prefix of the importer, path prefixes it must not import, why]. */
const NARROW: readonly [string, readonly string[], string][] = [
  [
    'ipam/',
    ['datastore/etcdv3/', 'datastore/kubernetes/', 'datastore/memory/'],
    'ipam uses the datastore port, never a driver',
  ],
  ['speaker/wire/', ['common/logger', 'speaker/session/', 'speaker/rib/'], 'the codec is pure: no logger, no sessions'],
  ['felix/calc/', ['kernel/', 'common/logger', 'felix/dataplane/'], 'calc is pure: model in, desired state out'],
  ['datastore/store', ['datastore/etcdv3/', 'datastore/kubernetes/'], 'the generic layer never knows a driver'],
];
/** Node built-ins a pure module must not use: [path prefix, banned specifiers, why]. */
const PURE: readonly [string, readonly string[], string][] = [
  [
    'speaker/wire/',
    ['node:net', 'node:timers', 'node:dgram', 'node:child_process', 'node:fs', 'node:http'],
    'the codec is pure: no I/O, no timers',
  ],
  ['felix/calc/', ['node:net', 'node:timers', 'node:child_process', 'node:fs'], 'calc is pure: no I/O'],
  ['model/', ['node:net', 'node:child_process', 'node:http', 'node:timers'], 'model/ is types and validation only'],
];
const BUILTIN_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](node:[a-z_/]+)['"]/g;
const EXCEPTIONS = new Set(['node/cli.ts -> lab/cli.js']);

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'fixtures') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

export function importViolations(): string[] {
  const problems: string[] = [];
  for (const folder of FOLDERS) {
    let files: string[];
    try {
      files = sourceFiles(join(ROOT, folder));
    } catch {
      continue;
    }
    for (const file of files) {
      const rel = relative(ROOT, file);
      const isTest = rel.endsWith('.test.ts');
      const text = readFileSync(file, 'utf8');
      if (!isTest) {
        for (const m of text.matchAll(BUILTIN_RE)) {
          for (const [from, banned, why] of PURE) {
            if (rel.startsWith(from) && banned.includes(m[1]!)) problems.push(`${rel} imports ${m[1]}: ${why}`);
          }
        }
      }
      for (const m of text.matchAll(IMPORT_RE)) {
        const target = relative(ROOT, resolve(dirname(file), m[1]!));
        const top = target.split('/')[0] as Folder;
        if (!FOLDERS.includes(top) || top === folder) {
          for (const [from, banned, why] of NARROW) {
            if (rel.startsWith(from) && !isTest && banned.some((b) => target.startsWith(b))) {
              problems.push(`${rel} imports ${target}: ${why}`);
            }
          }
          continue;
        }
        if (EXCEPTIONS.has(`${rel} -> ${target}`)) continue;
        if (isTest && (top === 'test' || top === 'lab' || top === 'datastore' || top === 'model' || top === 'common'))
          continue;
        if (!ALLOWED[folder].includes(top))
          problems.push(
            `${rel} imports ${target}: ${folder}/ may import only ${ALLOWED[folder].join(', ') || 'nothing of ours'}`,
          );
        for (const [from, banned, why] of NARROW) {
          if (rel.startsWith(from) && !isTest && banned.some((b) => target.startsWith(b)))
            problems.push(`${rel} imports ${target}: ${why}`);
        }
      }
    }
  }
  return problems;
}

describe('architecture', () => {
  it('every import follows the one-way dependency rules of STYLE.md §2.2', () => {
    assert.deepEqual(importViolations(), []);
  });
  it('`importViolations()` regex sees static, dynamic and side-effect imports', () => {
    const sample = `import a from '../x/a.js';\nconst b = await import('../y/b.js');\nimport '../z/c.js';\nimport type { T } from './t.js';`;
    const seen = [...sample.matchAll(IMPORT_RE)].map((m) => m[1]);
    assert.deepEqual(seen, ['../x/a.js', '../y/b.js', '../z/c.js', './t.js']);
  });
});
