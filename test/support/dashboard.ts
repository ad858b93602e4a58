import { readFileSync } from 'node:fs';

/**
 * The shipped Grafana dashboard's queries, asked of a real Prometheus as Grafana would ask them
 * (test/integration/prometheus.test.ts against a control plane with stand-ins,
 * test/integration/compose.test.ts against the compose cluster's own Prometheus).
 */

export const DASHBOARD = 'compose/grafana/dashboards/sbc.json';

interface Panel { title: string; targets: { refId: string; expr: string }[] }
export interface Dashboard { panels: Panel[]; templating: { list: { name: string; definition: string }[] } }
interface PromSample { metric: Record<string, string>; value: [number, string] }
export interface PromAnswer { status: string; error?: string; data?: { resultType: string; result: PromSample[] } }

export interface PanelQuery {
  readonly panel: string;
  /** `<panel> [<refId>]`, with the node when $node is one node. */
  readonly title: string;
  readonly expr: string;
}

export const readDashboard = (): Dashboard => JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

/**
 * Every target of every panel with Grafana's variables put in: `$__rate_interval` and `$__range`
 * as `windowSeconds` (the whole time Prometheus has scraped), `$node` as All (`.*`) and, when
 * `oneNode` is given, also as that node.
 */
export function dashboardQueries(dashboard: Dashboard, windowSeconds: number, oneNode?: string): PanelQuery[] {
  const window = `${Math.ceil(windowSeconds)}s`;
  const substitute = (expr: string, node: string) =>
    expr.replaceAll('$__rate_interval', window).replaceAll('$__range', window).replaceAll('$__interval', '1s').replaceAll('$node', node);
  return dashboard.panels.flatMap((p) =>
    p.targets.flatMap((t) => {
      const all = { panel: p.title, title: `${p.title} [${t.refId}]`, expr: substitute(t.expr, '.*') };
      return t.expr.includes('$node') && oneNode !== undefined ? [all, { panel: p.title, title: `${p.title} [${t.refId}, node ${oneNode}]`, expr: substitute(t.expr, oneNode) }] : [all];
    }),
  );
}

export async function promQuery(promUrl: string, expr: string): Promise<PromAnswer> {
  const res = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: expr }).toString()}`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as PromAnswer;
}

/** What is wrong with each query's answer: an error, no series, or only non-numbers (NaN); empty when every one has data. */
export async function queryProblems(promUrl: string, queries: readonly PanelQuery[]): Promise<string[]> {
  const out: string[] = [];
  for (const q of queries) {
    const a = await promQuery(promUrl, q.expr);
    if (a.status !== 'success') out.push(`${q.title}: ${a.error ?? a.status} (${q.expr})`);
    else if (!a.data || a.data.result.length === 0) out.push(`${q.title}: no data (${q.expr})`);
    else if (a.data.result.every((r) => !Number.isFinite(Number(r.value[1])))) out.push(`${q.title}: only ${a.data.result.map((r) => r.value[1]).join(', ')} (${q.expr})`);
  }
  return out;
}
