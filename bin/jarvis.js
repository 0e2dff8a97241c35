#!/usr/bin/env node
// Runs the CLI: the JavaScript in dist/ that `npm ci` compiled (bin/compile.js) when it is newer
// than every source file, else the TypeScript sources through tsx, so `npx jarvis` works without
// a build step and an edited checkout always runs what it holds. The compiled form saves the tsx
// loader's memory (~50 MB) and start time. JARVIS_FROM_SOURCE=1 always runs the sources.
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newestSource } from './newest-source.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function compiledIsCurrent() {
  if (process.env.JARVIS_FROM_SOURCE === '1') return false;
  try {
    return statSync(join(root, 'dist/BUILT')).mtimeMs >= newestSource(join(root, 'src'));
  } catch {
    return false;
  }
}

if (compiledIsCurrent()) {
  await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
