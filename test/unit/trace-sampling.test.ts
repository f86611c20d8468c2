import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSampleRules, ratioFor, RuleMatches, sampledAt } from '../../src/telemetry/sampling.ts';

describe('TRACE_SAMPLE_RULES', () => {
  it('parses pattern=ratio rules and picks the first match, by span name or route', () => {
    const rules = parseSampleRules(' POST /v1/uploads*=1 , video:watch=0.01,/v1/feed*=0.5,*=0.2');
    assert.equal(ratioFor(rules, 0.05, 'POST /v1/uploads'), 1);
    assert.equal(ratioFor(rules, 0.05, 'POST /v1/uploads/:id'), 1);
    assert.equal(ratioFor(rules, 0.05, 'video:watch'), 0.01);
    assert.equal(ratioFor(rules, 0.05, 'GET /v1/feed', '/v1/feed'), 0.5);
    assert.equal(ratioFor(rules, 0.05, 'video:like'), 0.2);
    assert.equal(ratioFor(parseSampleRules(''), 0.05, 'video:like'), 0.05);
    // dots and slashes are literal
    assert.equal(ratioFor(parseSampleRules('media.job=1'), 0, 'mediaxjob'), 0);
  });

  it('remembers which rule decides an operation, and answers as the rules do, the default ratio read each time', () => {
    const rules = parseSampleRules('POST /v1/uploads*=1,video:watch=0.01,/v1/feed*=0.5');
    let tests = 0;
    const counted = rules.map((r) => ({ ...r, test: (s: string) => (tests++, r.test(s)) }));
    const matches = new RuleMatches(counted, 3);
    const operations: [string, string?][] = [['POST /v1/uploads/:id'], ['video:watch'], ['GET /v1/feed', '/v1/feed'], ['video:like'], ['GET /v1/feed']];
    for (let round = 0; round < 3; round++) {
      for (const [name, route] of operations) assert.equal(matches.ratio(0.05, name, route), ratioFor(rules, 0.05, name, route), `${name} ${route}`);
    }
    // the default ratio is not remembered: the tracer's options may change it
    assert.equal(matches.ratio(0.2, 'video:like'), 0.2);
    // three remembered (the limit), the other two matched every time
    tests = 0;
    for (const [name, route] of operations.slice(0, 3)) matches.ratio(0.05, name, route);
    assert.equal(tests, 0);
    for (const [name, route] of operations.slice(3)) matches.ratio(0.05, name, route);
    assert.ok(tests > 0);
    assert.equal(new RuleMatches([]).ratio(0.3, 'anything'), 0.3);
  });

  it('refuses malformed rules with a message naming them', () => {
    for (const bad of ['video:like', 'video:like=', '=1', 'a=1.5', 'a=-0.1', 'a=x']) assert.throws(() => parseSampleRules(bad), /rule/);
    assert.throws(() => parseSampleRules(Array.from({ length: 65 }, (_, i) => `r${i}=1`).join(',')), /at most 64/);
  });

  it('decides by trace id, consistently across ratios', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => (i * 2654435761).toString(16).padStart(32, '0').slice(-32));
    const at = (r: number) => ids.filter((id) => sampledAt(id, r));
    assert.equal(at(0).length, 0);
    assert.equal(at(1).length, ids.length);
    const tenth = at(0.1);
    assert.ok(tenth.length > 100 && tenth.length < 300, `about a tenth: ${tenth.length}`);
    const hundredth = new Set(at(0.01));
    assert.ok([...hundredth].every((id) => tenth.includes(id)), 'sampled at 1% implies sampled at 10%');
  });
});
