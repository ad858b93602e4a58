/** The operator console's style sheet (GET /ui/console.css): a file of its own, as the CSP allows no inline style. */
export const CONSOLE_STYLE = `:root { color-scheme: light; --fg: #1d2430; --muted: #667085; --line: #d9dee7; --bad: #b42318; --warn: #b54708; --good: #067647; }
* { box-sizing: border-box; }
body { margin: 0 1.2rem 2rem; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: #fff; }
header { display: flex; gap: 1.2rem; align-items: baseline; border-bottom: 1px solid var(--line); padding: 0.6rem 0; }
h1 { font-size: 1.25rem; margin: 0; }
h2 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
h3 { font-size: 0.95rem; margin: 1rem 0 0.3rem; }
.muted { color: var(--muted); }
form { display: flex; gap: 0.5rem; align-items: center; margin: 0.6rem 0; }
input[type=password] { width: 26rem; padding: 0.25rem 0.4rem; font: inherit; }
input.needed { outline: 2px solid var(--warn); }
button { font: inherit; padding: 0.15rem 0.6rem; cursor: pointer; }
button:disabled { cursor: progress; }
.notice { border: 1px solid var(--warn); color: var(--warn); background: #fffaeb; padding: 0.4rem 0.6rem; }
#action-result { padding: 0.4rem 0.6rem; border: 1px solid var(--line); }
#action-result.failed, .error { color: var(--bad); }
.error { border: 1px solid var(--bad); background: #fef3f2; padding: 0.4rem 0.6rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.2rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
td.empty { color: var(--muted); font-style: italic; }
code, .id { font-family: ui-monospace, monospace; font-size: 0.9em; }
.state-active, .health-healthy { color: var(--good); }
.state-joining, .state-draining, .state-drained { color: var(--warn); font-weight: 600; }
.state-gone, .health-critical { color: var(--bad); }
ul.events { margin: 0; padding-left: 1rem; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
#trace-legs td.id { font-size: 0.8em; }
`;
