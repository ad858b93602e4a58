import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProvisionerError } from '../../../src/ports/provisioner.js';
import { CommandProvisioner } from '../../../src/provisioners/command.js';

const dir = mkdtempSync(join(tmpdir(), 'sbc-cmd-prov-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

const machine = (id: string) => ({ machineId: id, nodeId: '00000000-0000-4000-8000-000000000001', hostname: id, sipUri: 'sip:10.0.0.1:5080' });

describe('command provisioner', () => {
  it('runs the command with the target and the machines to remove, in env and as JSON on stdin; its output goes to the audit detail', async () => {
    const out = join(dir, 'seen');
    const cmd = script('ok', `echo "$SBC_SCALE_REPLICAS|$SBC_SCALE_REMOVE" > ${out}; cat >> ${out}; echo started 1`);
    const p = new CommandProvisioner({ command: cmd, timeoutMs: 5000, env: { PATH: '/usr/bin:/bin' } });
    const r = await p.apply({ replicas: 3, remove: [machine('fs-a'), machine('fs-b')] });
    const [envLine, stdin] = readFileSync(out, 'utf8').split('\n');
    expect(envLine).toBe('3|fs-a,fs-b');
    expect(JSON.parse(stdin!)).toEqual({ v: 1, replicas: 3, remove: [machine('fs-a'), machine('fs-b')] });
    expect(r).toEqual({ created: [], removed: ['fs-a', 'fs-b'], detail: `${cmd}: replicas 3, removed [fs-a, fs-b]: started 1` });
  });

  it('a non-zero exit is a ProvisionerError with its stderr; a hung command is killed at the timeout', async () => {
    const p = new CommandProvisioner({ command: script('fail', 'echo "no capacity in zone b" >&2; exit 4'), timeoutMs: 5000 });
    const err = await p.apply({ replicas: 5, remove: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProvisionerError);
    expect((err as Error).message).toMatch(/^command provisioner: .*fail failed \(exit\): .*no capacity in zone b/);
    const slow = new CommandProvisioner({ command: script('slow', 'sleep 30'), timeoutMs: 300 });
    expect(((await slow.apply({ replicas: 1, remove: [] }).catch((e: unknown) => e)) as Error).message).toMatch(/failed \(timeout\)/);
  });

  it('cannot tell the pool, and lets the scale core pick what goes', async () => {
    const p = new CommandProvisioner({ command: '/bin/true', timeoutMs: 1000 });
    expect(await p.list()).toBeUndefined();
    expect(await p.removalChoice()).toEqual({ kind: 'any' });
  });
});
