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
    // The folder's name is spelled with a bracket (s[h]ared) so that this pattern, which names
    // what it looks for, is not itself such a path (nor a match for a search of them).
    const grep = spawnSync(
      'git',
      ['grep', '-lE', String.raw`\.\./s[h]ared/|/work/s[h]ared|[^a-z]s[h]ared/fixtures`, '--', '*.ts', '*.js', '*.sh', '*.json', '*.cfg', '*.lua', '.ci/run'],
      { cwd: root, encoding: 'utf8' },
    );
    // git grep exits 1 when nothing matches, 0 with matches, 128 on error.
    expect(grep.status, grep.stderr).not.toBe(128);
    expect(grep.stdout).toBe('');
  });
});
