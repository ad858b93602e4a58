/**
 * The operator console's page (GET /ui): structure only. No inline script or style (the
 * Content-Security-Policy forbids both) and no data: the script fills the tables from the API
 * with the operator's token, so the page itself is answered without one.
 */
export const CONSOLE_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SBC console</title>
<link rel="stylesheet" href="/ui/console.css">
<script src="/ui/console.js" defer></script>
</head>
<body>
<header>
  <h1>SBC control plane</h1>
  <span id="cluster" class="muted">cluster: not read yet</span>
  <span id="updated" class="muted"></span>
</header>
<form id="token-form" autocomplete="off">
  <label for="token">API token</label>
  <input id="token" name="token" type="password" spellcheck="false" placeholder="sbc_&lt;id&gt;_&lt;secret&gt;">
  <button type="submit">Use token</button>
  <button type="button" id="token-forget">Forget</button>
  <span id="token-state" class="muted"></span>
</form>
<p id="token-needed" class="notice" role="alert" hidden></p>
<p id="action-result" role="status" hidden></p>
<main id="overview">
  <section id="nodes">
    <h2>Nodes</h2>
    <p class="error" role="alert" hidden></p>
    <table>
      <thead><tr><th>node</th><th>host</th><th>SIP URI</th><th>machine</th><th>state</th><th>health</th><th>calls</th><th>blockers</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="rooms">
    <h2>Rooms</h2>
    <p class="error" role="alert" hidden></p>
    <table>
      <thead><tr><th>room</th><th>pinned to</th><th>nodes (members, links)</th><th>participants</th><th>cascade links</th><th>splits repaired</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="calls">
    <h2>Recent calls</h2>
    <p class="error" role="alert" hidden></p>
    <table>
      <thead><tr><th>started</th><th>node</th><th>direction</th><th>caller</th><th>callee</th><th>room</th><th>ended</th><th>cause</th><th>trace</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<main id="trace" hidden>
  <p><a href="#" id="trace-back">&larr; back to the overview</a></p>
  <h2>Call <code id="trace-id"></code></h2>
  <p class="error" role="alert" hidden></p>
  <p id="trace-summary" class="muted"></p>
  <h3>Legs</h3>
  <table id="trace-legs">
    <thead><tr><th>leg (UUID)</th><th>node</th><th>direction</th><th>Call-ID</th><th>caller</th><th>callee</th><th>room</th><th>started</th><th>answered</th><th>ended</th><th>cause</th><th>SIP</th><th>events</th></tr></thead>
    <tbody></tbody>
  </table>
  <h3>Routing decisions</h3>
  <table id="trace-decisions">
    <thead><tr><th>decision</th><th>Kamailio</th><th>kind</th><th>pin</th><th>room</th><th>attempts</th></tr></thead>
    <tbody></tbody>
  </table>
</main>
</body>
</html>
`;
