// When the newest TypeScript source under a folder was changed (ms): bin/jarvis.js runs dist/
// only while it is newer, and bin/compile.js --if-stale compiles only when it is not.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (/\.tsx?$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}
