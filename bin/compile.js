#!/usr/bin/env node
// Compiles src/ to plain JavaScript in dist/ (same layout, so paths such as ../../drizzle still
// resolve), for bin/jarvis.js to run without the tsx loader: tsx's loader thread and esbuild
// process cost a running Jarvis ~50 MB of memory and some start time (docs/decisions.md). Runs on
// `npm ci` / `npm install` (the `prepare` script), `npm run build`, and in the quick start when
// the sources changed (`--if-stale`). Type-stripping only, one file at a
// time (TypeScript's transpileModule; `npm run typecheck` checks types); tests are left out.
// bin/jarvis.js uses dist/ only while it is newer than every file in src/, so an edited
// checkout runs its sources through tsx until this runs again.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newestSource } from './newest-source.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const out = join(root, 'dist');

let ts;
try {
  ts = (await import('typescript')).default;
} catch {
  // A production install without devDependencies: bin/jarvis.js runs the sources through tsx.
  process.stderr.write('jarvis compile: TypeScript is not installed; Jarvis will run its sources through tsx\n');
  process.exit(0);
}

function* sources(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (/\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts')) yield p;
  }
}

const options = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ES2022,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  rewriteRelativeImportExtensions: true,
  allowImportingTsExtensions: true,
  verbatimModuleSyntax: false,
  isolatedModules: true,
  esModuleInterop: true,
  jsx: ts.JsxEmit.ReactJSX,
  jsxImportSource: 'hono/jsx',
  sourceMap: false,
};

// --if-stale (the quick start): nothing to do while dist/ is newer than every source file.
if (process.argv.includes('--if-stale')) {
  try {
    if (statSync(join(out, 'BUILT')).mtimeMs >= newestSource(src)) process.exit(0);
  } catch {
    // not built yet
  }
}

const started = Date.now();
// Written beside dist/ and swapped in at the end, so a Jarvis running from dist/ meanwhile keeps
// finding its modules (it loads some on first use).
const tmp = `${out}.tmp-${process.pid}`;
rmSync(tmp, { recursive: true, force: true });
let n = 0;
for (const file of sources(src)) {
  const rel = relative(src, file);
  const { outputText, diagnostics } = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file, reportDiagnostics: true });
  const errors = (diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length) {
    process.stderr.write(`jarvis compile: ${rel}: ${ts.flattenDiagnosticMessageText(errors[0].messageText, '\n')}\n`);
    rmSync(tmp, { recursive: true, force: true });
    process.exit(1);
  }
  const target = join(tmp, rel.replace(/\.tsx?$/, '.js'));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, outputText);
  n++;
}
// Node reads .js under dist/ as ES modules (the root package.json says "type": "module").
writeFileSync(join(tmp, 'BUILT'), `${new Date().toISOString()} ${n} files\n`);
rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);
process.stderr.write(`jarvis compile: ${n} files to ${relative(root, out)}/ in ${Date.now() - started} ms\n`);
