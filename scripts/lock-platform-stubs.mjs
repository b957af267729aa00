#!/usr/bin/env node
// The npm registry reachable here serves only some of @biomejs/biome's per-platform binaries (darwin, win32,
// android and musl builds answer 404), so `npm install` leaves them out of package-lock.json and `npm ci`
// then refuses the lock as out of sync. This adds a lock entry for each missing optional platform package,
// tagged with its os/cpu/libc so that `npm ci` skips it on this platform without fetching anything.
// Run after any `npm install` that changes the lock. Remove once the registry serves every platform.
import { readFileSync, writeFileSync } from 'node:fs';

const LOCK = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(LOCK, 'utf8'));
const PLATFORM = /^@biomejs\/cli-(linux|darwin|win32|android)-(x64|arm64)(-musl)?$/;
let added = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const m = PLATFORM.exec(dep);
    const key = `node_modules/${dep}`;
    if (!m || lock.packages[key]) continue;
    lock.packages[key] = {
      version,
      dev: entry.dev || undefined,
      optional: true,
      os: [m[1]],
      cpu: [m[2]],
      ...(m[3] ? { libc: ['musl'] } : {}),
      license: entry.license,
    };
    added++;
  }
  void path;
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(LOCK, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-platform-stubs: added ${added} entries`);
