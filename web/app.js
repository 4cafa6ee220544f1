// gpuaas dashboard: plain JavaScript, no build step, no third-party code.
// It reads only the /v1 API with the user's token, so it shows exactly what
// the token's role may read (the API filters and redacts). The token lives
// in sessionStorage (this tab only); a #token=... fragment is moved there
// and removed from the address bar.
'use strict';
(function () {
  const KEY = 'gpuaas.token';
  const REFRESH_MS = 5000;
  const IDLE_PCT = 10; // the same threshold as gpuaas_gpus_idle
  const TOP_N = 5;
  const QUEUE_MAX = 20; // pending jobs the queue panel shows (oldest first; the count says how many more)
  let timer = null;
  let loading = false;
  const idleSince = new Map(); // GPU + holder -> when this page first saw it idle

  const $ = (id) => document.getElementById(id);
  const byTestId = (id) => document.querySelector('[data-testid="' + id + '"]');

  // el('td', {class: 'num', dataset: {value: 3}}, 'text', childNode, ...)
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k === 'style') Object.assign(e.style, v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids.flat()) {
      if (kid === undefined || kid === null || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }

  function fill(tbody, rows, columns, emptyText) {
    tbody.replaceChildren(...(rows.length ? rows : [el('tr', {class: 'empty'}, el('td', {colspan: columns}, emptyText))]));
  }

  // ---- formatting ------------------------------------------------------------

  function fmtHours(h) {
    if (h >= 100) return h.toFixed(0);
    if (h >= 10) return h.toFixed(1);
    if (h > 0 && h < 0.001) return h.toPrecision(2);
    return h.toFixed(3);
  }
  function fmtDuration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
  }
  function fmtGpus(n) { return Number.isInteger(n) ? String(n) : n.toFixed(2); }
  function fmtBytes(b) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : String(b)) + ' ' + units[i];
  }
  function parseBytes(text) { // "24Gi" -> bytes
    const m = /^([0-9.]+)\s*([KMGT]i?)?$/.exec(String(text || ''));
    if (!m) return 0;
    const mult = {K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1048576, Gi: 1073741824, Ti: 1099511627776};
    return parseFloat(m[1]) * (m[2] ? mult[m[2]] : 1);
  }
  function monthUtc(d) { return d.toISOString().slice(0, 7); }
  function pct(part, whole) { return whole > 0 ? Math.round((100 * part) / whole) : 0; }
  function bar(fraction, cls) {
    return el('div', {class: 'bar ' + (cls || '')}, el('span', {style: {width: Math.min(100, Math.max(0, fraction * 100)) + '%'}}));
  }
  function holderName(h) {
    if (!h) return '';
    if (typeof h === 'string') return '(another tenant)';
    return h.namespace + ' / ' + h.job + (h.replica ? ' #' + h.replica : '');
  }

  // ---- API ---------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path) {
    let r;
    try {
      r = await fetch(path, {headers: {Authorization: 'Bearer ' + sessionStorage.getItem(KEY)}, cache: 'no-store'});
    } catch (e) {
      throw new ApiError(0, 'cannot reach the server (' + e.message + ')');
    }
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) throw new ApiError(r.status, body && body.error ? body.error.message : r.status + ' ' + r.statusText);
    return body;
  }

  // A panel the role may not read shows why instead of failing the page.
  async function optional(path) {
    try { return {value: await api(path)}; } catch (e) {
      if (e.status === 401) throw e;
      return {error: e};
    }
  }

  // ---- what the numbers are ---------------------------------------------------

  function migShare(profile) { // "3g.20gb" -> 3/7 of a GPU, as metering counts it
    const m = /^(\d+)g\./.exec(profile || '');
    return m ? Math.min(7, parseInt(m[1], 10)) / 7 : 1 / 7;
  }

  function summarize(gpus) {
    const s = {total: gpus.length, allocated: 0, idle: 0, free: 0, models: {}, capacity: {}, byNode: {}, idleGpus: [], ns: {}};
    const holdNs = (h, amount, util, mem) => {
      const ns = typeof h === 'string' ? '(other tenants)' : h.namespace;
      const e = s.ns[ns] || (s.ns[ns] = {gpus: 0, utilSum: 0, utilCount: 0, mem: 0, memKnown: false});
      e.gpus += amount;
      if (typeof util === 'number') { e.utilSum += util; e.utilCount++; }
      if (typeof mem === 'number') { e.mem += mem; e.memKnown = true; }
    };
    for (const g of gpus) {
      s.models[g.model] = (s.models[g.model] || 0) + 1;
      const cap = s.capacity[g.capacity_type] || (s.capacity[g.capacity_type] = {total: 0, allocated: 0});
      const node = s.byNode[g.node] || (s.byNode[g.node] = {total: 0, allocated: 0, gpus: []});
      cap.total++;
      node.total++;
      node.gpus.push(g);
      const util = typeof g.utilization_pct === 'number' ? g.utilization_pct : null;
      if (g.allocated) {
        s.allocated++;
        cap.allocated++;
        node.allocated++;
        if (util !== null && util < IDLE_PCT) { s.idle++; s.idleGpus.push(g); }
      } else {
        s.free++;
      }
      if (g.allocated_to) holdNs(g.allocated_to, 1, util, g.memory_used_bytes);
      for (const sh of g.shares || []) if (sh.allocated_to) holdNs(sh.allocated_to, sh.milli / 1000, util, null);
      for (const m of g.mig_devices || []) if (m.allocated_to) holdNs(m.allocated_to, migShare(m.profile), null, m.memory_used_bytes);
    }
    return s;
  }

  // ---- rendering -----------------------------------------------------------------

  function setStat(id, value, sub) {
    byTestId(id).textContent = value;
    byTestId(id).dataset.value = value;
    if (sub !== undefined) byTestId(id).nextElementSibling.textContent = sub;
  }

  function renderSummary(s, counts, usage) {
    setStat('gpus-total', s.total);
    $('gpus-models').textContent = Object.entries(s.models).sort().map(([m, n]) => n + ' ' + m).join(' · ');
    setStat('gpus-allocated', s.allocated);
    $('gpus-allocated-pct').textContent = pct(s.allocated, s.total) + ' % of all GPUs';
    setStat('gpus-idle', s.idle);
    $('gpus-idle-sub').textContent = s.allocated ? pct(s.idle, s.allocated) + ' % of allocated' : 'none allocated';
    setStat('gpus-free', s.free);
    if (counts.value) {
      const by = counts.value.by_state;
      setStat('jobs-running', by.Running);
      $('jobs-sub').textContent = by.Succeeded + ' succeeded, ' + by.Failed + ' failed';
      setStat('jobs-pending', by.Pending);
    } else {
      setStat('jobs-running', '–');
      setStat('jobs-pending', '–');
      $('jobs-sub').textContent = counts.error.message;
    }
    if (usage.value) {
      const t = usage.value.total;
      const el2 = byTestId('usage-total-hours');
      el2.textContent = fmtHours(t.gpu_hours);
      el2.dataset.value = t.gpu_hours;
      $('usage-cost').textContent = t.cost ? t.cost.toFixed(2) + ' ' + (usage.value.currency || '') : 'allocated GPU time';
    } else {
      byTestId('usage-total-hours').textContent = '–';
      $('usage-cost').textContent = usage.error.message;
    }
  }

  function renderCapacity(s, byCapacity) {
    const types = ['spot', 'on-demand'].concat(Object.keys(s.capacity).filter((t) => t !== 'spot' && t !== 'on-demand'));
    const hours = {};
    if (byCapacity.value) for (const r of byCapacity.value.rows) hours[r.key] = r.gpu_hours;
    const split = el('div', {class: 'split', title: 'allocated GPUs by capacity type'});
    const kv = el('div', {class: 'kv'}, el('span', {class: 'muted'}, 'capacity'), el('span', {class: 'muted'}, 'allocated'),
      el('span', {class: 'muted'}, 'GPU-h this month'));
    for (const t of types) {
      const c = s.capacity[t] || {total: 0, allocated: 0};
      if (s.allocated) split.append(el('span', {class: t, style: {width: (100 * c.allocated) / s.allocated + '%'}}));
      kv.append(el('span', {}, el('span', {class: 'dot ' + t}), t),
        el('span', {'data-testid': 'capacity-' + t + '-allocated', dataset: {value: c.allocated}}, c.allocated + ' / ' + c.total),
        el('span', {class: 'num'}, byCapacity.value ? fmtHours(hours[t] || 0) : '–'));
    }
    $('capacity').replaceChildren(split, kv);
  }

  function renderUtilization(s) {
    const rows = Object.entries(s.ns).sort((a, b) => b[1].gpus - a[1].gpus || a[0].localeCompare(b[0])).map(([ns, e]) => {
      const avg = e.utilCount ? e.utilSum / e.utilCount : null;
      return el('tr', {'data-testid': 'util-row', dataset: {namespace: ns}},
        el('td', {class: 'ns', title: ns}, ns),
        el('td', {class: 'num'}, fmtGpus(e.gpus)),
        el('td', {}, avg === null ? el('span', {class: 'muted'}, 'no reading')
          : el('div', {class: 'barrow', style: {gridTemplateColumns: '1fr 40px', margin: 0}},
            bar(avg / 100, avg < IDLE_PCT ? 'low' : 'util'), el('span', {class: 'num'}, Math.round(avg) + ' %'))),
        el('td', {class: 'num'}, e.memKnown ? fmtBytes(e.mem) : '–'));
    });
    fill($('util-rows'), rows, 4, 'no GPU is allocated');
  }

  function renderUsage(usage, month) {
    $('usage-month').textContent = '(' + month + ', UTC)';
    if (!usage.value) {
      fill($('usage-rows'), [], 4, usage.error.message);
      $('top').replaceChildren(el('p', {class: 'muted'}, usage.error.message));
      return;
    }
    const cur = usage.value.currency || '';
    const sorted = usage.value.rows.slice().sort((a, b) => b.gpu_hours - a.gpu_hours || a.key.localeCompare(b.key));
    fill($('usage-rows'), sorted.map((r) => el('tr', {'data-testid': 'usage-row', dataset: {namespace: r.key}},
      el('td', {class: 'ns', title: r.key}, r.key),
      el('td', {class: 'num', 'data-testid': 'usage-gpu-hours', dataset: {value: r.gpu_hours}}, fmtHours(r.gpu_hours)),
      el('td', {class: 'num'}, r.pods),
      el('td', {class: 'num'}, r.cost ? r.cost.toFixed(2) + ' ' + cur : '–'))), 4, 'no GPU time this month');
    const top = sorted.slice(0, TOP_N);
    const max = top.length ? top[0].gpu_hours : 0;
    $('top').replaceChildren(...(top.length ? top.map((r, i) => el('div', {class: 'barrow', 'data-testid': 'top-row', dataset: {namespace: r.key}},
      el('span', {class: 'name', title: r.key}, (i + 1) + '. ' + r.key), bar(max ? r.gpu_hours / max : 0),
      el('span', {class: 'num'}, fmtHours(r.gpu_hours) + ' h'))) : [el('p', {class: 'muted'}, 'no GPU time this month')]));
  }

  function gpuState(g) {
    if (!g.allocated) return 'free';
    if (typeof g.utilization_pct !== 'number') return 'nodata';
    return g.utilization_pct < IDLE_PCT ? 'idle' : 'busy';
  }

  function renderGpuGrid(s) {
    const nodes = Object.entries(s.byNode).sort((a, b) => a[0].localeCompare(b[0]));
    $('gpus').replaceChildren(...nodes.map(([name, n]) => el('div', {class: 'node'},
      el('div', {class: 'nname', title: name}, name, el('span', {class: 'muted'}, n.allocated + ' / ' + n.total + ' allocated')),
      el('div', {class: 'gpus'}, n.gpus.map((g) => {
        const st = gpuState(g);
        const total = parseBytes(g.memory);
        const migUsed = (g.mig_devices || []).filter((m) => m.allocated_to).length;
        const h = g.allocated_to;
        const holder = h ? (typeof h === 'string' ? holderName(h) : h.job + ' · ' + h.namespace)
          : g.mig_devices && g.mig_devices.length ? 'MIG ' + migUsed + '/' + g.mig_devices.length + ' slices held'
            : (g.shares || []).length ? (g.milli_used / 10).toFixed(0) + ' % shared' : 'free';
        const util = typeof g.utilization_pct === 'number' ? g.utilization_pct + ' %' : '';
        return el('div', {class: 'gpu ' + st, 'data-testid': 'gpu', dataset: {node: g.node, index: g.index, state: st},
          title: g.uuid + '\n' + holder + (typeof g.temperature_c === 'number' ? '\n' + g.temperature_c + ' °C' : '')},
        el('div', {class: 'g1'}, el('span', {}, '#' + g.index + ' ' + g.model), el('span', {}, util)),
        el('div', {class: 'g2'}, holder),
        typeof g.memory_used_bytes === 'number' && total
          ? el('div', {class: 'mem', title: 'memory ' + fmtBytes(g.memory_used_bytes) + ' of ' + g.memory},
            el('span', {style: {width: (100 * g.memory_used_bytes) / total + '%'}})) : null);
      })))));
  }

  function renderIdle(s, now) {
    const seen = new Set();
    const rows = s.idleGpus.map((g) => {
      const key = g.uuid + '|' + holderName(g.allocated_to || (g.shares[0] || {}).allocated_to);
      seen.add(key);
      if (!idleSince.has(key)) idleSince.set(key, now);
      return el('tr', {'data-testid': 'idle-row'},
        el('td', {}, g.node + ' #' + g.index),
        el('td', {class: 'ns'}, holderName(g.allocated_to) || 'shared'),
        el('td', {class: 'num'}, g.utilization_pct + ' %'),
        el('td', {class: 'num', title: 'since this page first saw it idle'}, '≥ ' + fmtDuration(now - idleSince.get(key))));
    });
    for (const key of [...idleSince.keys()]) if (!seen.has(key)) idleSince.delete(key);
    fill($('idle-rows'), rows, 4, 'no allocated GPU is idle');
  }

  // pending: the first QUEUE_MAX pending jobs by id (submission order)
  function renderQueue(pending, now) {
    if (!pending.value) { fill($('queue-rows'), [], 3, pending.error.message); return; }
    const jobs = pending.value.items.slice()
      .sort((a, b) => Date.parse(a.status.created_at) - Date.parse(b.status.created_at));
    const longest = jobs.length ? now - Date.parse(jobs[0].status.created_at) : 0;
    $('pending-sub').textContent = jobs.length ? 'longest wait ' + fmtDuration(longest) : 'queue empty';
    const rows = jobs.map((j) => el('tr', {'data-testid': 'queue-row', dataset: {job: j.name, namespace: j.namespace}},
      el('td', {class: 'ns', title: j.namespace + '/' + j.name}, j.name, el('div', {class: 'muted'}, j.namespace)),
      el('td', {class: 'reason'}, j.status.reason || 'waiting'),
      el('td', {class: 'num'}, fmtDuration(now - Date.parse(j.status.created_at)))));
    const more = pending.value.total - jobs.length;
    if (more > 0) {
      rows.push(el('tr', {class: 'empty', 'data-testid': 'queue-more', dataset: {value: more}},
        el('td', {colspan: 3}, '… and ' + more + ' more waiting (gpuaas get jobs --state Pending)')));
    }
    fill($('queue-rows'), rows, 3, 'no job is waiting');
  }

  function renderNodes(nodes, s) {
    if (!nodes.value) { fill($('node-rows'), [], 5, nodes.error.message); return; }
    fill($('node-rows'), nodes.value.items.map((n) => {
      const c = s.byNode[n.name] || {total: 0, allocated: 0};
      const labels = n.labels || {};
      return el('tr', {'data-testid': 'node-row', dataset: {node: n.name, state: n.state}},
        el('td', {class: 'ns', title: n.name}, n.name),
        el('td', {}, el('span', {class: 'badge ' + n.state}, n.state)),
        el('td', {}, labels['gpuaas.io/capacity-type'] || '–'),
        el('td', {}, labels['gpuaas.io/gpu-model'] || '–'),
        el('td', {class: 'num'}, c.allocated + ' / ' + c.total));
    }), 5, 'no nodes');
  }

  // ---- flow --------------------------------------------------------------------------

  function showLogin(message) {
    clearInterval(timer);
    timer = null;
    $('dashboard').hidden = true;
    $('session').hidden = true;
    $('login').hidden = false;
    const err = $('login-error');
    err.hidden = !message;
    err.textContent = message || '';
    document.body.dataset.state = message ? 'login-error' : 'login';
    $('token').focus();
  }

  async function load() {
    if (loading) return;
    loading = true;
    const now = new Date();
    const month = monthUtc(now);
    try {
      // the one call every valid token may make: it proves the token
      const gpus = await api('/v1/gpus');
      // counts and the head of the queue only: never every job
      const [counts, pending, nodes, usage, byCapacity] = await Promise.all([
        optional('/v1/job-summary'), optional('/v1/jobs?state=Pending&limit=' + QUEUE_MAX), optional('/v1/nodes'),
        optional('/v1/usage?month=' + month + '&by=namespace'), optional('/v1/usage?month=' + month + '&by=capacity')]);
      const s = summarize(gpus.items);
      renderSummary(s, counts, usage);
      renderCapacity(s, byCapacity);
      renderUtilization(s);
      renderUsage(usage, month);
      renderGpuGrid(s);
      renderIdle(s, now.getTime());
      renderQueue(pending, now.getTime());
      renderNodes(nodes, s);
      $('login').hidden = true;
      $('dashboard').hidden = false;
      $('session').hidden = false;
      $('load-error').hidden = true;
      $('updated').textContent = 'updated ' + now.toLocaleTimeString();
      document.body.dataset.state = 'ready';
      if (!timer && $('auto').checked) timer = setInterval(tick, REFRESH_MS);
    } catch (e) {
      if (e.status === 401) {
        sessionStorage.removeItem(KEY);
        showLogin('The server refused this token: ' + e.message);
      } else if ($('dashboard').hidden) {
        showLogin('Cannot load the dashboard: ' + e.message);
      } else {
        $('load-error').hidden = false;
        $('load-error').textContent = 'Refresh failed: ' + e.message + ' (showing the last data)';
      }
    } finally {
      loading = false;
    }
  }

  function tick() { if (!document.hidden) load(); }

  function start() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
      history.replaceState(null, '', location.pathname + location.search);
    }
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const t = $('token').value.trim();
      if (!t) return;
      sessionStorage.setItem(KEY, t);
      $('token').value = '';
      load();
    });
    $('refresh').addEventListener('click', load);
    $('auto').addEventListener('change', () => {
      clearInterval(timer);
      timer = $('auto').checked ? setInterval(tick, REFRESH_MS) : null;
    });
    $('logout').addEventListener('click', () => { sessionStorage.removeItem(KEY); showLogin(''); });
    if (sessionStorage.getItem(KEY)) load(); else showLogin('');
  }

  start();
})();
