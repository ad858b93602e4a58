/**
 * The operator console's script (GET /ui/console.js), plain browser JavaScript with no build
 * step. It polls the API every 2 s with the operator's token (kept in sessionStorage, sent as
 * `Authorization: Bearer`) and writes every value into the page as text (textContent and
 * text nodes, never HTML), so nothing the API returns (a caller's name, a Call-ID) can become
 * markup. The API's errors are shown where they happened: 401 asks for a token, anything else
 * is printed with its status and code.
 *
 * Kept as a string (no template literal substitutions in it) so the control plane serves it
 * as it is; the unit tests parse it and check what it may not do.
 */
export const CONSOLE_SCRIPT = String.raw`'use strict';
(function () {
  var TOKEN_KEY = 'sbc.console.token';
  var POLL_MS = 2000;
  var REQUEST_TIMEOUT_MS = 10000;

  function $(sel, root) { return (root || document).querySelector(sel); }

  /** An element with attributes and children; strings become text nodes (never parsed as HTML). */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') node.textContent = String(v);
        else if (k === 'className') node.className = String(v);
        else node.setAttribute(k, String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === undefined || c === null) continue;
      node.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return node;
  }

  function cell(value, attrs) { return el('td', attrs, value === undefined || value === null ? '' : String(value)); }
  function shortId(id) { return typeof id === 'string' && id.length > 13 ? id.slice(0, 8) : String(id); }
  function time(iso) { return iso ? String(iso).replace('T', ' ').replace(/\.\d+Z$/, 'Z') : ''; }
  /** The time of day to the ms (UTC): a trace's legs happen within seconds, its summary gives the date. */
  function clock(iso) { return iso ? String(iso).slice(11, 23) : ''; }

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

  /** An error the API answered: its status, stable code and message. */
  function ApiError(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }
  ApiError.prototype.toString = function () {
    return this.status === 0 ? this.message : 'HTTP ' + this.status + ' ' + this.code + ': ' + this.message;
  };

  /** One API call with the operator's token; rejects with an ApiError for every non-2xx answer. */
  function api(method, path, body) {
    var headers = { accept: 'application/json' };
    var t = token();
    if (t) headers.authorization = 'Bearer ' + t;
    var init = { method: method, headers: headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, REQUEST_TIMEOUT_MS);
    init.signal = ctl.signal;
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (res.ok) return data;
        var code = data && typeof data.error === 'string' ? data.error : 'http-' + res.status;
        var message = data && typeof data.message === 'string' ? data.message : (text || res.statusText);
        throw new ApiError(res.status, code, message);
      });
    }, function (err) {
      throw new ApiError(0, 'unreachable', 'the API did not answer ' + method + ' ' + path + ': ' + (err && err.name === 'AbortError' ? 'timed out' : String(err && err.message || err)));
    }).finally(function () { clearTimeout(timer); });
  }

  /** 401: the API wants a token (none, or one it refused); the token field says so. */
  function askForToken(err) {
    var box = $('#token-needed');
    box.textContent = (token() ? 'The API refused this token: ' : 'This control plane asks for an API token (scope read to look, operate to drain): ') + err.message;
    box.hidden = false;
    $('#token').classList.add('needed');
  }
  function tokenAccepted() {
    $('#token-needed').hidden = true;
    $('#token').classList.remove('needed');
  }

  function showSectionError(section, err) {
    var p = $('.error', section);
    if (!err) { p.hidden = true; p.textContent = ''; return; }
    p.textContent = String(err);
    p.hidden = false;
  }

  /** Replaces a table body's rows, unless what it shows is unchanged (a click is never lost to a redraw). */
  function fillRows(tbody, key, rows, columns, emptyText) {
    if (tbody.dataset.shown === key) return;
    tbody.dataset.shown = key;
    if (rows.length === 0) {
      tbody.replaceChildren(el('tr', null, el('td', { className: 'empty', colspan: columns, text: emptyText })));
      return;
    }
    tbody.replaceChildren.apply(tbody, rows);
  }

  function showAction(text, failed) {
    var p = $('#action-result');
    p.textContent = text;
    p.className = failed ? 'failed' : '';
    p.hidden = false;
  }

  function drainAction(kind, node, button) {
    button.disabled = true;
    var path = '/v1/nodes/' + encodeURIComponent(node.nodeId) + '/' + kind;
    api('POST', path, kind === 'drain' ? {} : undefined).then(function (r) {
      showAction(kind + ' of ' + node.hostname + ' (' + shortId(node.nodeId) + '): now ' + r.node.state + (r.applied ? ', applied' : ', the leader applies it in its next pass'), false);
      refresh();
    }, function (err) {
      if (err.status === 401) askForToken(err);
      showAction(kind + ' of ' + node.hostname + ' (' + shortId(node.nodeId) + ') refused: ' + String(err), true);
    }).finally(function () { button.disabled = false; });
  }

  function nodeRow(n) {
    var draining = n.state === 'draining' || n.state === 'drained';
    var actions = el('td', null);
    if (n.state !== 'gone') {
      var b = el('button', { type: 'button', className: draining ? 'undrain' : 'drain', text: draining ? 'Undrain' : 'Drain' });
      b.addEventListener('click', function () { drainAction(draining ? 'undrain' : 'drain', n, b); });
      actions.append(b);
    }
    var health = n.health + (typeof n.healthScore === 'number' ? ' (' + Math.round(n.healthScore) + ')' : '');
    return el('tr', { 'data-node-id': n.nodeId, 'data-state': n.state },
      cell(shortId(n.nodeId), { className: 'id', title: n.nodeId }),
      cell(n.hostname),
      cell(n.sipUri, { className: 'id' }),
      cell(n.machineId, { className: 'id' }),
      cell(n.state, { className: 'state state-' + n.state }),
      cell(health, { className: 'health health-' + n.health, title: n.worstSensor ? 'worst sensor: ' + n.worstSensor : undefined }),
      cell(n.sessions + ' / ' + n.capacity, { className: 'calls' }),
      cell((n.blockers || []).join(', ')),
      actions);
  }

  var hostnames = {};
  function nodeName(id) { return id ? (hostnames[id] ? hostnames[id] + ' (' + shortId(id) + ')' : shortId(id)) : ''; }
  function count(n, noun) { return n + ' ' + noun + (n === 1 ? '' : 's'); }

  function renderNodes(body) {
    var nodes = body.nodes.slice().sort(function (a, b) { return (a.state === 'gone') - (b.state === 'gone') || a.priority - b.priority; });
    nodes.forEach(function (n) { hostnames[n.nodeId] = n.hostname; });
    var key = JSON.stringify(nodes.map(function (n) { return [n.nodeId, n.hostname, n.sipUri, n.machineId, n.state, n.health, n.healthScore, n.worstSensor, n.sessions, n.capacity, n.blockers]; }));
    fillRows($('#nodes tbody'), key, nodes.map(nodeRow), 9, 'no node has announced itself');
  }

  function renderRooms(body) {
    var rooms = body.rooms;
    var key = JSON.stringify(rooms.map(function (r) { return [r.room, r.pin, r.nodes.map(function (h) { return [h.nodeId, h.members, h.links]; }), r.members, r.links, r.splitsRepaired, hostnames]; }));
    fillRows($('#rooms tbody'), key, rooms.map(function (r) {
      var halves = el('td', null, el('ul', { className: 'events' }, ...r.nodes.map(function (h) {
        return el('li', { 'data-node-id': h.nodeId }, nodeName(h.nodeId) + ': ' + count(h.members, 'member') + ', ' + count(h.links, 'link'));
      })));
      var links = r.links.length === 0 ? cell('none', { className: 'muted' }) : el('td', null, el('ul', { className: 'events' }, ...r.links.map(function (l) {
        return el('li', { 'data-link-id': l.linkId }, nodeName(l.from) + ' \u2192 ' + nodeName(l.to));
      })));
      return el('tr', { 'data-room': r.room },
        cell(r.room),
        cell(r.pin ? (r.pin.nodeId ? nodeName(r.pin.nodeId) : r.pin.uri + ' (no live node)') : 'not pinned'),
        halves,
        cell(r.members),
        links,
        cell(r.splitsRepaired));
    }), 6, 'no active room');
  }

  function renderCalls(body) {
    var legs = body.legs;
    var key = JSON.stringify([legs, hostnames]);
    fillRows($('#calls tbody'), key, legs.map(function (l) {
      return el('tr', { 'data-uuid': l.uuid, 'data-call-id': l.callId },
        cell(time(l.startedAt)),
        cell(nodeName(l.nodeId), { title: l.nodeId }),
        cell(l.direction),
        cell(l.caller),
        cell(l.callee),
        cell(l.room),
        cell(time(l.endedAt)),
        cell(l.cause),
        el('td', null, el('a', { href: '#trace/' + encodeURIComponent(l.uuid), className: 'trace-link', title: l.callId ? 'Call-ID ' + l.callId : undefined, text: 'trace' })));
    }), 9, 'no call recorded yet');
  }

  function renderCluster(c) {
    $('#cluster').textContent = 'replica ' + c.replicaId + ' (' + c.role + '), leader ' + (c.leaderId === null ? 'none' : c.leaderId) + ', epoch ' + (c.epoch === null ? '-' : c.epoch) + ', ' + c.replicas.filter(function (r) { return r.live; }).length + ' replica(s) live';
  }

  function renderTrace(id, g) {
    $('#trace-summary').textContent = g.legs.length + ' leg(s) on ' + g.nodes.length + ' node(s), ' + g.decisions.length + ' routing decision(s), from ' + time(g.firstAt) + ' to ' + time(g.lastAt) + (g.truncated ? '; truncated: more may belong to this call' : '');
    var legKey = JSON.stringify([id, g.legs, hostnames]);
    fillRows($('#trace-legs tbody'), legKey, g.legs.map(function (l) {
      // Each event as ms after the leg's first: the times and the cause are in the columns before.
      var t0 = l.events.length > 0 ? l.events[0].atUs : 0;
      var events = el('ul', { className: 'events' }, ...l.events.map(function (e) {
        return el('li', { title: e.at }, e.event + ' +' + Math.round((e.atUs - t0) / 1000) + ' ms');
      }));
      return el('tr', { 'data-uuid': l.uuid },
        cell(l.uuid, { className: 'id' }),
        cell(nodeName(l.nodeId), { title: l.nodeId }),
        cell(l.direction),
        cell(l.callId, { className: 'id' }),
        cell(l.caller),
        cell(l.callee),
        cell(l.room),
        cell(clock(l.startedAt), { className: 'time', title: l.startedAt }),
        cell(clock(l.answeredAt), { className: 'time', title: l.answeredAt }),
        cell(clock(l.endedAt), { className: 'time', title: l.endedAt }),
        cell(l.cause),
        cell(l.sipStatus),
        el('td', null, events));
    }), 13, 'no leg');
    fillRows($('#trace-decisions tbody'), JSON.stringify([id, g.decisions]), g.decisions.map(function (d) {
      var attempts = el('ul', { className: 'events' }, ...d.attempts.map(function (a) {
        return el('li', null, '#' + a.attempt + ' ' + (a.dst || (a.result ? 'answered ' + a.result : '')) + (a.set !== undefined ? ' (set ' + a.set + ', alg ' + a.alg + ')' : '') + (a.afterStatus ? ' after ' + a.afterStatus : '') + (a.afterTimeout ? ' after no answer' : ''));
      }));
      return el('tr', null, cell(d.id, { className: 'id' }), cell(d.kamailioId), cell(d.kind), cell(d.pin), cell(d.room), el('td', null, attempts));
    }), 6, 'no routing decision recorded (a call that did not come through a Kamailio of this cluster)');
  }

  /** The call asked for in the location hash (#trace/<id>), or null for the overview. */
  function tracedId() {
    var m = /^#trace\/(.+)$/.exec(location.hash);
    if (!m) return null;
    try { return decodeURIComponent(m[1]); } catch (e) { return m[1]; }
  }

  function showView() {
    var id = tracedId();
    $('#overview').hidden = id !== null;
    $('#trace').hidden = id === null;
    if (id !== null) $('#trace-id').textContent = id;
  }

  /** Applies one answer to its section; tells whether the API refused the token. */
  function settle(section, outcome, render) {
    if (outcome.status === 'fulfilled') {
      showSectionError(section, null);
      render(outcome.value);
      return false;
    }
    showSectionError(section, outcome.reason);
    return outcome.reason instanceof ApiError && outcome.reason.status === 401 ? outcome.reason : false;
  }

  var inFlight = null;
  function refresh() {
    if (inFlight) return inFlight;
    var id = tracedId();
    var asks = [api('GET', '/v1/cluster'), api('GET', '/v1/nodes')];
    if (id === null) asks.push(api('GET', '/v1/rooms'), api('GET', '/v1/calls?limit=20'));
    else asks.push(api('GET', '/v1/calls/' + encodeURIComponent(id)));
    inFlight = Promise.allSettled(asks).then(function (r) {
      var refused = [
        settle($('header'), r[0], renderCluster),
        settle($('#nodes'), r[1], renderNodes),
      ];
      if (id === null) {
        refused.push(settle($('#rooms'), r[2], renderRooms), settle($('#calls'), r[3], renderCalls));
      } else if (id === tracedId()) {
        refused.push(settle($('#trace'), r[2], function (g) { renderTrace(id, g); }));
      }
      var unauthorized = refused.filter(Boolean)[0];
      if (unauthorized) askForToken(unauthorized);
      else if (refused.length > 0 && r.every(function (o) { return o.status === 'fulfilled'; })) tokenAccepted();
      $('#updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    }).finally(function () { inFlight = null; });
    return inFlight;
  }

  function showTokenState() {
    $('#token-state').textContent = token() ? 'a token is kept for this tab' : 'no token';
  }

  function start() {
    // The header has no error paragraph of its own in the page: give it one.
    $('header').append(el('p', { className: 'error', role: 'alert', hidden: 'hidden' }));
    $('#token-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var value = $('#token').value.trim();
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      $('#token').value = '';
      showTokenState();
      refresh();
    });
    $('#token-forget').addEventListener('click', function () {
      sessionStorage.removeItem(TOKEN_KEY);
      showTokenState();
      refresh();
    });
    window.addEventListener('hashchange', function () { showView(); refresh(); });
    showTokenState();
    showView();
    refresh();
    setInterval(refresh, POLL_MS);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
`;
