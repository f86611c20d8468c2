import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TremoloError } from '../../src/protocol/errors.ts';
import { MediaSigner } from '../../src/transport/media/signing.ts';

const T0 = Date.UTC(2026, 0, 1);
const signer = new MediaSigner({ secret: 'test-secret', ttlS: 300 });
const path = '/media/01HV/hls/master.m3u8';

function parts(url: string): { path: string; exp: string; sig: string } {
  const u = new URL(url, 'http://x');
  return { path: u.pathname, exp: u.searchParams.get('exp') ?? '', sig: u.searchParams.get('sig') ?? '' };
}
const code = (c: string) => (e: unknown) => e instanceof TremoloError && e.code === c;

describe('MediaSigner', () => {
  it('signs path, expiry and an HMAC that verifies', () => {
    const url = signer.sign(path, { now: T0 });
    const p = parts(url);
    assert.equal(p.path, path);
    assert.equal(Number(p.exp), T0 / 1000 + 300);
    assert.match(p.sig, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(signer.verify(p.path, p.exp, p.sig, T0 + 1000), T0 / 1000 + 300);
  });

  it('honours a per-URL ttl', () => {
    const p = parts(signer.sign(path, { now: T0, ttlS: 10 }));
    assert.equal(Number(p.exp), T0 / 1000 + 10);
  });

  it('refuses an expired URL, allowing a little clock skew', () => {
    const p = parts(signer.sign(path, { now: T0, ttlS: 10 }));
    assert.doesNotThrow(() => signer.verify(p.path, p.exp, p.sig, T0 + 10_000 + 29_000));
    assert.throws(() => signer.verify(p.path, p.exp, p.sig, T0 + 10_000 + 31_000), code('E_SIGNATURE_EXPIRED'));
  });

  it('refuses a tampered signature or expiry', () => {
    const p = parts(signer.sign(path, { now: T0 }));
    const flipped = (p.sig[0] === 'A' ? 'B' : 'A') + p.sig.slice(1);
    assert.throws(() => signer.verify(p.path, p.exp, flipped, T0), code('E_SIGNATURE_INVALID'));
    assert.throws(() => signer.verify(p.path, String(Number(p.exp) + 3600), p.sig, T0), code('E_SIGNATURE_INVALID'));
    assert.throws(() => signer.verify(p.path, p.exp, p.sig.slice(0, 20), T0), code('E_SIGNATURE_INVALID'));
    assert.throws(() => signer.verify(p.path, undefined, undefined, T0), code('E_SIGNATURE_INVALID'));
    assert.throws(() => signer.verify(p.path, '-5', p.sig, T0), code('E_SIGNATURE_INVALID'));
  });

  it('refuses a URL presented for another path or signed with another secret', () => {
    const p = parts(signer.sign(path, { now: T0 }));
    assert.throws(() => signer.verify('/media/01HV/video.mp4', p.exp, p.sig, T0), code('E_SIGNATURE_INVALID'));
    const other = new MediaSigner({ secret: 'other', ttlS: 300 });
    assert.throws(() => other.verify(p.path, p.exp, p.sig, T0), code('E_SIGNATURE_INVALID'));
  });

  it('refuses traversal, plain or percent-encoded, when signing and verifying', () => {
    const p = parts(signer.sign(path, { now: T0 }));
    for (const bad of [
      '/media/01HV/../secret',
      '/media/../etc/passwd',
      '/media/%2e%2e/etc/passwd',
      '/media/01HV%2f..%2fx',
      '/media/01HV/%2E%2E/x',
      '/media/01HV/./x',
      '/media//x',
      '/media/01HV/a\\..\\b',
      'media/relative',
    ]) {
      assert.throws(() => signer.verify(bad, p.exp, p.sig, T0), code('E_VALIDATION'), bad);
      assert.throws(() => signer.sign(bad), code('E_VALIDATION'), bad);
    }
  });

  it('validates its options', () => {
    assert.throws(() => new MediaSigner({ secret: '', ttlS: 1 }), TypeError);
    assert.throws(() => new MediaSigner({ secret: 's', ttlS: 0 }), RangeError);
  });
});
