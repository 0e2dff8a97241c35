import { describe, expect, it } from 'vitest';
import { isPrivateAddress, urlProblem } from './destination.ts';

describe('isPrivateAddress', () => {
  it('knows loopback, private, link-local (metadata), CGNAT and IPv6 unique/link-local, also IPv4-mapped', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1',
      // Special-purpose ranges, and IPv6 forms that carry an IPv4 address (NAT64, 6to4, Teredo).
      '198.18.0.1', '192.0.2.1', '224.0.0.1', '255.255.255.255', 'ff02::1', '64:ff9b::a9fe:a9fe', '2002:a9fe:a9fe::1', '2001:0::1', '2001:db8::1']) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '192.169.0.1', '93.184.216.34', '2001:4860:4860::8888', '2606:4700::1111', '::ffff:8.8.8.8', 'example.com']) expect(isPrivateAddress(a), a).toBe(false);
  });
});

describe('urlProblem', () => {
  const open = { allowedHosts: [], allowPrivate: true };
  const shared = { allowedHosts: [], allowPrivate: false };
  it('takes http and https only, with no credentials', () => {
    expect(urlProblem('https://hooks.example.com/x', shared)).toBeNull();
    expect(urlProblem('http://127.0.0.1:9000/hook', open)).toBeNull();
    expect(urlProblem('file:///etc/passwd', open)).toMatch(/scheme "file" is not allowed/);
    expect(urlProblem('javascript:alert(1)', open)).toMatch(/scheme "javascript"/);
    expect(urlProblem('hooks.example.com/x', open)).toMatch(/is not a URL/);
    expect(urlProblem('https://u:p@example.com/', open)).toMatch(/user name or password/);
  });
  it('refuses private addresses and localhost by name unless allowed', () => {
    expect(urlProblem('http://127.0.0.1:9000/hook', shared)).toMatch(/address 127.0.0.1 is not a public address.*allow_private_addresses/);
    expect(urlProblem('http://[::1]/', shared)).toMatch(/address ::1 is not a public address/);
    expect(urlProblem('http://169.254.169.254/latest/meta-data', shared)).toMatch(/not a public address/);
    expect(urlProblem('http://localhost:8080/', shared)).toMatch(/not a public address/);
  });
  it('keeps to the allow-list, exactly or by *.suffix', () => {
    const list = { allowedHosts: ['hooks.example.com', '*.corp.example'], allowPrivate: false };
    expect(urlProblem('https://hooks.example.com/a', list)).toBeNull();
    expect(urlProblem('https://ci.corp.example/a', list)).toBeNull();
    expect(urlProblem('https://evil.example.com/a', list)).toMatch(/not in webhooks.allowed_hosts/);
    expect(urlProblem('https://corp.example.evil.com/a', list)).toMatch(/not in webhooks.allowed_hosts/);
  });
});
