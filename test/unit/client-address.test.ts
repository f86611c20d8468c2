import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { addressKey, anonymousViewerKey, clientAddress, trustFunction } from '../../src/transport/client-address.ts';

const trustOf = (raw: string) => trustFunction(loadConfig({ TRUST_PROXY: raw }).trustProxy);

describe('client address', () => {
  it('is the peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    assert.equal(trustOf('off'), false);
    assert.equal(clientAddress('10.0.0.5', '203.0.113.7', trustOf('off')), '10.0.0.5');
  });

  it('walks X-Forwarded-For through the trusted hops only', () => {
    const header = '198.51.100.1, 203.0.113.9'; // the client said .1; the proxy saw .9
    assert.equal(clientAddress('10.0.0.5', header, trustOf('1')), '203.0.113.9');
    assert.equal(clientAddress('10.0.0.5', header, trustOf('2')), '198.51.100.1');
    assert.equal(clientAddress('10.0.0.5', undefined, trustOf('1')), '10.0.0.5');
    const ranges = trustOf('10.0.0.0/8, 192.0.2.1');
    assert.equal(clientAddress('10.0.0.5', header, ranges), '203.0.113.9', 'a client-written entry is not believed');
    assert.equal(clientAddress('10.0.0.5', '198.51.100.1, 192.0.2.1', ranges), '198.51.100.1');
    assert.equal(clientAddress('172.16.0.1', header, ranges), '172.16.0.1', 'an untrusted peer is the client');
    assert.equal(clientAddress('::ffff:10.1.2.3', ['203.0.113.1', '203.0.113.2'], ranges), '203.0.113.2');
    assert.equal(clientAddress('::1', '203.0.113.3', trustOf('loopback')), '203.0.113.3');
    assert.equal(clientAddress('fd00::1', '203.0.113.4', trustOf('uniquelocal')), '203.0.113.4');
  });

  it('refuses TRUST_PROXY values that are not off, a hop count or a list of addresses and ranges', () => {
    for (const bad of ['true', '0', '17', '10.0.0.0/33', 'proxy.example.com', '10.0.0.1/8/2', '::1/129']) {
      assert.throws(() => loadConfig({ TRUST_PROXY: bad }), /TRUST_PROXY=.* is invalid: expected off, a hop count/, bad);
    }
    assert.deepEqual(loadConfig({ TRUST_PROXY: '2' }).trustProxy, { kind: 'hops', hops: 2 });
    assert.deepEqual(loadConfig({}).trustProxy, { kind: 'off' });
  });

  it('keys IPv4 as is, IPv6 by its /64, and bounds anything else', () => {
    assert.equal(addressKey('203.0.113.7'), '203.0.113.7');
    assert.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:DB8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::7'), '2001:db8:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('x'.repeat(500)).length, 64);
  });

  it('turns an address into an anonymous viewer key that is stable and does not hold the address', () => {
    const key = anonymousViewerKey('203.0.113.7');
    assert.equal(key, anonymousViewerKey('203.0.113.7'));
    assert.notEqual(key, anonymousViewerKey('203.0.113.8'));
    assert.ok(!key.includes('203'));
  });
});
