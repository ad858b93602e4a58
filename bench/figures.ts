/** Latency distributions and the way the benches print them. */

export interface Distribution {
  readonly n: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentile (p99 of 100 samples is the 99th smallest). */
function nearestRank(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    min: sorted[0] ?? NaN,
    mean: sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length),
    p50: nearestRank(sorted, 50),
    p90: nearestRank(sorted, 90),
    p99: nearestRank(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

export const ms = (v: number, digits = 1): string => `${v.toFixed(digits)} ms`;

export function distributionLine(label: string, d: Distribution, digits = 1): string {
  const f = (v: number) => v.toFixed(digits).padStart(8);
  return `${label.padEnd(26)} n=${String(d.n).padEnd(4)} min${f(d.min)}  p50${f(d.p50)}  p90${f(d.p90)}  p99${f(d.p99)}  max${f(d.max)}  mean${f(d.mean)}  (ms)`;
}

export function line(label: string, value: string | number): string {
  return `${label.padEnd(44)} ${value}`;
}

export function verdict(name: string, pass: boolean, detail: string): string {
  return `VERDICT ${name}: ${pass ? 'PASS' : 'MISS'} - ${detail}`;
}
