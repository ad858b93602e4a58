import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/metrics.js';

/**
 * The shipped Grafana dashboard (compose/grafana/dashboards/sbc.json) read as Grafana reads it:
 * every panel on the provisioned datasource, with queries, and every sbc_* metric they name
 * exported by the control plane. Whether each query returns data is proved against a real
 * Prometheus (test/integration/prometheus.test.ts).
 */
interface Target { refId?: string; expr?: string; datasource?: { type?: string; uid?: string } }
interface Panel { id?: number; type?: string; title?: string; datasource?: { type?: string; uid?: string }; targets?: Target[]; gridPos?: { x: number; y: number; w: number; h: number } }
interface Dashboard { uid?: string; title?: string; schemaVersion?: number; panels?: Panel[]; templating?: { list?: { name: string; datasource?: { uid?: string } }[] } }

const dashboard = JSON.parse(readFileSync('compose/grafana/dashboards/sbc.json', 'utf8')) as Dashboard;
const datasources = readFileSync('compose/grafana/provisioning/datasources/prometheus.yml', 'utf8');
const provisionedUid = /^\s+uid:\s*(\S+)\s*$/m.exec(datasources)?.[1];
const panels = dashboard.panels ?? [];

describe('the Grafana dashboard (compose/grafana/dashboards/sbc.json)', () => {
  it('is a Grafana 10/11 dashboard with a uid, a title and panels', () => {
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.title).toBeTruthy();
    // Grafana 10.0 writes 38, 10.4 and 11.x write 39.
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(38);
    expect(dashboard.schemaVersion).toBeLessThanOrEqual(41);
    expect(panels.length).toBeGreaterThan(10);
  });

  it('the provisioned datasource has a uid, and every panel, query and variable uses it', () => {
    expect(provisionedUid).toBeTruthy();
    const wrong = [
      ...panels.filter((p) => p.datasource?.type !== 'prometheus' || p.datasource.uid !== provisionedUid).map((p) => `panel ${p.title}`),
      ...panels.flatMap((p) => (p.targets ?? []).filter((t) => t.datasource?.uid !== provisionedUid).map((t) => `panel ${p.title} query ${t.refId}`)),
      ...(dashboard.templating?.list ?? []).filter((v) => v.datasource?.uid !== provisionedUid).map((v) => `variable ${v.name}`),
    ];
    expect(wrong).toEqual([]);
  });

  it('every panel has a title, a unique id, a place on the grid and at least one query with a unique refId', () => {
    const problems: string[] = [];
    const ids = new Set<number>();
    for (const p of panels) {
      const name = p.title ?? `panel ${p.id}`;
      if (!p.title) problems.push(`${name}: no title`);
      if (typeof p.id !== 'number' || ids.has(p.id)) problems.push(`${name}: id missing or repeated`);
      ids.add(p.id ?? -1);
      if (!p.gridPos || p.gridPos.w < 1 || p.gridPos.h < 1 || p.gridPos.x + p.gridPos.w > 24) problems.push(`${name}: bad gridPos`);
      const targets = p.targets ?? [];
      if (targets.length === 0) problems.push(`${name}: no query`);
      if (targets.some((t) => !t.expr?.trim())) problems.push(`${name}: an empty query`);
      if (new Set(targets.map((t) => t.refId)).size !== targets.length) problems.push(`${name}: repeated refId`);
    }
    expect(problems).toEqual([]);
  });

  it('every sbc_* metric a query names is one the control plane exports', async () => {
    const exported = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const exprs = [...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr ?? '' }))), ...(dashboard.templating?.list ?? []).map((v) => ({ title: `variable ${v.name}`, expr: JSON.stringify(v) }))];
    const unknown = exprs.flatMap(({ title, expr }) =>
      [...expr.matchAll(/\bsbc_[a-z0-9_]+/g)].map((m) => m[0]).filter((name) => !exported.has(name.replace(/_(bucket|sum|count)$/, ''))).map((name) => `${title}: ${name}`),
    );
    expect(unknown).toEqual([]);
    expect(exprs.length).toBeGreaterThan(20);
  });
});
