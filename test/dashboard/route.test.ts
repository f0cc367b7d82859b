// The dashboard app's hash routes and its formatting: pure functions, tested in Node.
import { describe, expect, it } from 'vitest';
import { duration, prettyBody, relative } from '../../dashboard/app/format.ts';
import { instanceHref, machineHref, parseRoute } from '../../dashboard/app/route.ts';

describe('dashboard routes', () => {
  it.each([
    ['', { name: 'machines' }],
    ['#/', { name: 'machines' }],
    ['#/dead-letters', { name: 'dead-letters' }],
    ['#/machine/approval', { name: 'machine', machine: 'approval', filters: {} }],
    [
      '#/machine/approval?state=review.legal&status=active&outcome=resolve&other=x',
      { name: 'machine', machine: 'approval', filters: { state: 'review.legal', status: 'active', outcome: 'resolve' } },
    ],
    ['#/instance/approval/doc-17', { name: 'instance', machine: 'approval', id: 'doc-17' }],
    ['#/instance/approval/a%2Fb%20c', { name: 'instance', machine: 'approval', id: 'a/b c' }],
    ['#/instance/approval/a/b', { name: 'instance', machine: 'approval', id: 'a/b' }],
    ['#/instance/approval', { name: 'not-found', hash: '/instance/approval' }],
    ['#/nowhere', { name: 'not-found', hash: '/nowhere' }],
  ])('%s', (hash, route) => {
    expect(parseRoute(hash)).toEqual(route);
  });

  it('makes links that parse back to what they were made from', () => {
    const filters = { state: 'review.legal', outcome: 'dead-lettered' };
    expect(machineHref('approval', filters)).toBe('#/machine/approval?state=review.legal&outcome=dead-lettered');
    expect(parseRoute(machineHref('approval', filters))).toEqual({ name: 'machine', machine: 'approval', filters });
    expect(machineHref('approval', { state: undefined })).toBe('#/machine/approval');
    expect(parseRoute(instanceHref('approval/a/b c'))).toEqual({ name: 'instance', machine: 'approval', id: 'a/b c' });
  });
});

describe('dashboard formatting', () => {
  it.each([
    [0, '0 s'],
    [59_400, '59 s'],
    [60_000, '1 min'],
    [3_600_000, '1 h'],
    [3_660_000, '1 h 1 min'],
    [86_400_000, '1 d'],
    [90_000_000, '1 d 1 h'],
    [-5, '0 s'],
  ])('duration(%d) is %s', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });

  it('writes times relative to now, and bodies as pretty JSON when they parse', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(relative('2026-01-01T11:57:00Z', now)).toBe('3 min ago');
    expect(relative('2026-01-03T12:00:00Z', now)).toBe('in 2 d');
    expect(relative('2026-01-01T12:00:00.500Z', now)).toBe('now');
    expect(relative('not a time', now)).toBe('not a time');
    expect(prettyBody('{"type":"A"}')).toBe('{\n  "type": "A"\n}');
    expect(prettyBody('{not json')).toBe('{not json');
  });
});
