/**
 * Reads the control plane's metrics in the Prometheus text format (the in-process
 * registry's metrics() and GET /metrics give the same text), so every bench reports
 * from the same place an operator would look.
 */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '' || raw.startsWith('#')) continue;
    const m = SAMPLE.exec(raw);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, '$1');
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of every sample of `name` whose labels include `match`. */
export function sumOf(samples: readonly PromSample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((t, s) => t + s.value, 0);
}

export interface HistogramSummary {
  readonly count: number;
  readonly sum: number;
  readonly mean: number;
  /** Estimated like Prometheus' histogram_quantile: linear inside the bucket. */
  quantile(q: number): { value: number; beyondLastBucket: boolean };
}

export function histogramOf(samples: readonly PromSample[], name: string): HistogramSummary {
  const buckets = samples
    .filter((s) => s.name === `${name}_bucket`)
    .map((s) => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), cum: s.value }))
    .sort((a, b) => a.le - b.le);
  const count = sumOf(samples, `${name}_count`);
  const sum = sumOf(samples, `${name}_sum`);
  return {
    count,
    sum,
    mean: count > 0 ? sum / count : NaN,
    quantile(q) {
      const rank = q * count;
      let prevLe = 0;
      let prevCum = 0;
      for (const b of buckets) {
        if (b.cum >= rank && b.cum > prevCum) {
          if (b.le === Infinity) return { value: prevLe, beyondLastBucket: true };
          return { value: prevLe + ((b.le - prevLe) * (rank - prevCum)) / (b.cum - prevCum), beyondLastBucket: false };
        }
        if (b.le !== Infinity) prevLe = b.le;
        prevCum = b.cum;
      }
      return { value: NaN, beyondLastBucket: false };
    },
  };
}
