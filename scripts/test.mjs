#!/usr/bin/env node
// Runs every *.test.ts under the source folders with Node's built-in test runner (through tsx, so the
// TypeScript runs unbuilt). Node 20's --test takes no globs, so we find the files here.
// Usage: node scripts/test.mjs [path-or-substring ...]
//   CARACAL_TEST_CONCURRENCY (default 2)   files run in parallel
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// Every folder of the repository except these (no list of source folders to keep in step with the tree).
const SKIP = new Set(['node_modules', 'dist', 'crds', 'charts', 'docs']); // and every dot-folder

function walk(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (SKIP.has(name) || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
}

const files = [];
walk(root, files);
files.sort();
const filters = process.argv.slice(2);
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error(`No test files match ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}
const args = [
  '--import',
  'tsx',
  '--test',
  `--test-concurrency=${process.env.CARACAL_TEST_CONCURRENCY ?? '2'}`,
  '--test-reporter=spec',
  ...selected,
];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
