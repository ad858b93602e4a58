import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const esl = `${root}test/fixtures/freeswitch-esl`;

describe('repository: the captures the tests rely on live in the repository', () => {
  it('every FreeSWITCH capture matches the checksum it was copied with (byte-exact, no line-end conversion)', () => {
    const listed = readFileSync(`${esl}/SHA256SUMS`, 'utf8')
      .trim()
      .split('\n')
      .map((line) => {
        const [sum, name] = line.split(/\s+/);
        return { sum, name: name as string };
      });
    const present = readdirSync(esl).filter((f) => f !== 'SHA256SUMS').sort();
    expect(listed.map((l) => l.name).sort()).toEqual(present);
    for (const { sum, name } of listed) {
      const actual = createHash('sha256').update(readFileSync(`${esl}/${name}`)).digest('hex');
      expect(actual, name).toBe(sum);
    }
  });

  it('no tracked file reaches outside the checkout for fixtures or tools', () => {
    // This file names the pattern it looks for, so it is the one allowed match.
    const grep = spawnSync(
      'git',
      ['grep', '-lE', String.raw`\.\./shared/|/work/shared|[^a-z]shared/fixtures`, '--', '*.ts', '*.js', '*.sh', '*.json', '*.cfg', '*.lua', '.ci/run', ':!test/unit/repo/fixtures.test.ts'],
      { cwd: root, encoding: 'utf8' },
    );
    // git grep exits 1 when nothing matches, 0 with matches, 128 on error.
    expect(grep.status, grep.stderr).not.toBe(128);
    expect(grep.stdout).toBe('');
  });
});
