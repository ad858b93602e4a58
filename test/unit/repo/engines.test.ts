import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

interface LockEntry {
  readonly version?: string;
  readonly engines?: { readonly node?: string } | readonly string[];
}
const lock = JSON.parse(readFileSync(new URL('../../../package-lock.json', import.meta.url), 'utf8')) as {
  packages: Record<string, LockEntry>;
};

describe('repository: the engines field is true', () => {
  it('every locked package accepts the oldest Node the project says it runs on', () => {
    const own = lock.packages['']?.engines;
    const range = own && !Array.isArray(own) ? (own as { node?: string }).node : undefined;
    expect(range, 'package.json engines.node').toBeTruthy();
    const oldest = semver.minVersion(range as string)?.version as string;
    const refusing = Object.entries(lock.packages)
      .filter(([path]) => path !== '')
      .flatMap(([path, entry]) => {
        const node = entry.engines && !Array.isArray(entry.engines) ? (entry.engines as { node?: string }).node : undefined;
        return node && !semver.satisfies(oldest, node) ? [`${path}@${entry.version ?? '?'} wants node ${node}`] : [];
      });
    expect(refusing, `packages that refuse Node ${oldest}`).toEqual([]);
  });

  it('this machine runs a Node the project accepts', () => {
    const own = lock.packages['']?.engines as { node: string };
    expect(semver.satisfies(process.versions.node, own.node)).toBe(true);
  });
});
