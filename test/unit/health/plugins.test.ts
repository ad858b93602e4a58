import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHealthPlugins, pluginsFrom } from '../../../src/health/plugins.js';

describe('health plugins file', () => {
  it('builds executable sensors and command and webhook hooks from a valid file', () => {
    const r = pluginsFrom({
      sensors: [{ name: 'rtp-loss', command: '/opt/s/rtp', args: ['--x'], timeoutMs: 2000 }],
      hooks: [
        { name: 'pager', on: ['critical', 'gone'], url: 'https://pager.example/h', headers: { Authorization: 'Bearer t' }, timeoutMs: 3000 },
        { name: 'cmdb', on: ['drained'], command: '/opt/h/cmdb', env: { CMDB_URL: 'x' }, timeoutMs: 5000 },
      ],
    });
    if (!r.ok) throw new Error(r.problems.join('; '));
    expect(r.plugins.sensors.map((s) => s.name)).toEqual(['rtp-loss']);
    expect(r.plugins.hooks).toEqual([
      { name: 'pager', on: ['critical', 'gone'], target: { kind: 'webhook', url: 'https://pager.example/h', timeoutMs: 3000, headers: { Authorization: 'Bearer t' } } },
      { name: 'cmdb', on: ['drained'], target: { kind: 'command', spec: { command: '/opt/h/cmdb', timeoutMs: 5000, env: { CMDB_URL: 'x' } } } },
    ]);
  });

  it('lists every problem: schema, built-in or repeated names, a hook with both or neither target', () => {
    const schema = pluginsFrom({ sensors: [{ name: 'x', command: 'relative', timeoutMs: 5 }], extra: 1 });
    expect(schema.ok).toBe(false);
    expect(!schema.ok && schema.problems.length).toBeGreaterThanOrEqual(2);
    const r = pluginsFrom({
      sensors: [
        { name: 'idle-cpu', command: '/a', timeoutMs: 100 },
        { name: 'dup', command: '/a', timeoutMs: 100 },
        { name: 'dup', command: '/b', timeoutMs: 100 },
      ],
      hooks: [
        { name: 'both', on: ['gone'], command: '/c', url: 'http://x', timeoutMs: 100 },
        { name: 'neither', on: ['gone'], timeoutMs: 100 },
        { name: 'mixed', on: ['gone'], url: 'http://x', args: ['a'], timeoutMs: 100 },
      ],
    });
    expect(r).toEqual({
      ok: false,
      problems: [
        'sensors: sensor name "idle-cpu" is a built-in sensor\'s',
        'sensors: "dup" is listed twice',
        'hooks: "both" needs exactly one of command and url',
        'hooks: "neither" needs exactly one of command and url',
        'hooks: "mixed": args and env are for a command',
      ],
    });
    expect(pluginsFrom({ hooks: [{ name: 'h', on: ['rebooted'], url: 'http://x', timeoutMs: 100 }] }).ok).toBe(false);
  });

  it('reads the file named by SBC_HEALTH_PLUGINS_FILE; none when unset; problems name the file', () => {
    expect(loadHealthPlugins('')).toEqual({ ok: true, plugins: { sensors: [], hooks: [] } });
    const dir = mkdtempSync(join(tmpdir(), 'plugins-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ sensors: [{ name: 'disk', command: '/bin/true', timeoutMs: 100 }] }));
    const loaded = loadHealthPlugins(good);
    expect(loaded.ok && loaded.plugins.sensors.map((s) => s.name)).toEqual(['disk']);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ not json');
    const r = loadHealthPlugins(bad);
    expect(!r.ok && r.problems[0]).toMatch(new RegExp(`^SBC_HEALTH_PLUGINS_FILE ${bad}: .*JSON`));
    const missing = loadHealthPlugins(join(dir, 'missing.json'));
    expect(!missing.ok && missing.problems[0]).toMatch(/ENOENT/);
  });
});
