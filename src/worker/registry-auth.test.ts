import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsFor, registryOf } from './registry-auth.ts';

describe('registryOf', () => {
  it('names the host of a reference, Docker Hub when its first part is no host', () => {
    expect(registryOf('busybox')).toBe('docker.io');
    expect(registryOf('library/busybox:1')).toBe('docker.io');
    expect(registryOf('me/app@sha256:abc')).toBe('docker.io');
    expect(registryOf('docker.io/me/app')).toBe('docker.io');
    expect(registryOf('index.docker.io/me/app')).toBe('docker.io');
    expect(registryOf('ghcr.io/me/app:2')).toBe('ghcr.io');
    expect(registryOf('127.0.0.1:5000/x')).toBe('127.0.0.1:5000');
    expect(registryOf('localhost/x')).toBe('localhost');
    expect(registryOf('registry:5000/x')).toBe('registry:5000');
  });
});

describe('credentialsFor', () => {
  let dir: string;
  const PATH = process.env.PATH;
  const path = () => join(dir, 'config.json');
  const write = (config: unknown) => writeFile(path(), typeof config === 'string' ? config : JSON.stringify(config));
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jarvis-docker-config-'));
    // A stand-in credential helper: the protocol's `get`, the server on stdin.
    const helper = join(dir, 'docker-credential-standin');
    await writeFile(helper, '#!/bin/sh\nread server\nif [ "$server" = "ecr.example.com" ]; then echo \'{"ServerURL":"ecr.example.com","Username":"AWS","Secret":"s3cret"}\'; exit 0; fi\nif [ "$server" = "token.example.com" ]; then echo \'{"Username":"<token>","Secret":"idt"}\'; exit 0; fi\necho "credentials not found in native keychain"; exit 1\n');
    await chmod(helper, 0o755);
    // One that prints its answer and then fails, and one that hangs, deaf to SIGTERM.
    await writeFile(join(dir, 'docker-credential-noisy'), '#!/bin/sh\nread server\necho \'{"ServerURL":"x","Username":"u","Secret":"glpat-REALTOKEN-123456"}\'\nexit 1\n');
    await writeFile(join(dir, 'docker-credential-stuck'), '#!/bin/sh\ntrap "" TERM\nsleep 60\n');
    await chmod(join(dir, 'docker-credential-noisy'), 0o755);
    await chmod(join(dir, 'docker-credential-stuck'), 0o755);
    process.env.PATH = `${dir}:${process.env.PATH}`;
  });
  afterAll(async () => {
    process.env.PATH = PATH;
    await rm(dir, { recursive: true, force: true });
  });

  it('reads auths as the Docker CLI files them: user:password in base64, by host or URL', async () => {
    await write({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw:with:colons') }, 'http://ghcr.io/': { auth: b64('gh:tok') }, '127.0.0.1:5000': { username: 'u', password: 'p' } } });
    expect(await credentialsFor('busybox', path())).toEqual({ auth: { username: 'hub', password: 'pw:with:colons', serveraddress: 'https://index.docker.io/v1/' }, from: path() });
    expect(await credentialsFor('ghcr.io/me/app', path())).toEqual({ auth: { username: 'gh', password: 'tok', serveraddress: 'ghcr.io' }, from: path() });
    expect(await credentialsFor('127.0.0.1:5000/x', path())).toEqual({ auth: { username: 'u', password: 'p', serveraddress: '127.0.0.1:5000' }, from: path() });
    expect(await credentialsFor('quay.io/x', path())).toEqual({ auth: null, problem: null });
  });

  it('takes an identity token before a password', async () => {
    await write({ auths: { 'ghcr.io': { auth: b64('a:b'), identitytoken: 'idt' } } });
    expect(await credentialsFor('ghcr.io/x', path())).toEqual({ auth: { identitytoken: 'idt', serveraddress: 'ghcr.io' }, from: path() });
  });

  it("asks a registry's credential helper, then the store, and falls back to auths when the helper has none", async () => {
    await write({ credHelpers: { 'ecr.example.com': 'standin', 'token.example.com': 'standin' }, credsStore: 'standin', auths: { 'ghcr.io': { auth: b64('a:b') } } });
    expect(await credentialsFor('ecr.example.com/x', path())).toEqual({ auth: { username: 'AWS', password: 's3cret', serveraddress: 'ecr.example.com' }, from: 'docker-credential-standin' });
    expect(await credentialsFor('token.example.com/x', path())).toEqual({ auth: { identitytoken: 'idt', serveraddress: 'token.example.com' }, from: 'docker-credential-standin' });
    expect(await credentialsFor('ghcr.io/x', path())).toEqual({ auth: { username: 'a', password: 'b', serveraddress: 'ghcr.io' }, from: path() });
    const none = await credentialsFor('quay.io/x', path());
    expect(none).toEqual({ auth: null, problem: expect.stringMatching(/^credential helper docker-credential-standin failed \(credentials not found/) });
  });

  it("never tells a helper's stdout (where its secret is) nor the configuration's text", async () => {
    await write({ credsStore: 'noisy' });
    const noisy = await credentialsFor('ghcr.io/x', path());
    expect(noisy).toEqual({ auth: null, problem: 'credential helper docker-credential-noisy failed (exit code 1)' });
    await write(`{"auths": {"ghcr.io": {"auth": '${b64('deploy:hunter2')}'}}}`);
    const broken = await credentialsFor('ghcr.io/x', path());
    expect(broken).toEqual({ auth: null, problem: `${path()} cannot be read as Docker's client configuration (not valid JSON)` });
  });

  it('stops a helper that hangs when the attempt ends', async () => {
    await write({ credsStore: 'stuck' });
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const t0 = Date.now();
    expect(await credentialsFor('ghcr.io/x', path(), abort.signal)).toEqual({ auth: null, problem: 'credential helper docker-credential-stuck was stopped (the attempt ended)' });
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('says why when the configuration or a helper cannot be used, and nothing when there is no configuration', async () => {
    expect(await credentialsFor('ghcr.io/x', join(dir, 'missing.json'))).toEqual({ auth: null, problem: null });
    await write('{"auths": ');
    expect((await credentialsFor('ghcr.io/x', path())).auth).toBeNull();
    expect(await credentialsFor('ghcr.io/x', path())).toMatchObject({ problem: expect.stringContaining('cannot be read as Docker') });
    await write({ credsStore: 'absent-helper' });
    expect(await credentialsFor('ghcr.io/x', path())).toEqual({ auth: null, problem: 'credential helper docker-credential-absent-helper is not installed' });
    await write({ credsStore: '../../bin/sh' });
    expect(await credentialsFor('ghcr.io/x', path())).toMatchObject({ auth: null, problem: expect.stringContaining('not a plain name') });
    await write({ auths: { 'ghcr.io': { auth: b64('no-colon') } } });
    expect(await credentialsFor('ghcr.io/x', path())).toMatchObject({ auth: null, problem: expect.stringContaining('not base64 of user:password') });
  });
});
