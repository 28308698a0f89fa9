// The live page: active users, the chosen user's actions, intents and
// recommendations, the ranking knobs and a map of the catalogue. It reads
// the query API of the address that serves it and follows /v1/stream.
'use strict';

(() => {
  const KNOBS = ['k', 'diversity', 'history', 'neighbours', 'half_life', 'exclude_seen',
    'category', 'brand', 'min_price', 'max_price'];
  const HALF_LIVES = { 3600: '1h', 21600: '6h', 86400: '24h', 259200: '72h' };
  const MAX_USERS = 50;
  const MAX_EARLIER = 5;

  const $ = (id) => document.getElementById(id);
  const state = {
    user: '',
    knobs: {}, // parameter -> value, only those set by the URL or by hand
    serverKnobs: null, // the knobs of the last recommendations
    users: new Map(), // id -> {user_id, last_event, events, seq}
    seq: 0,
    session: null,
    recs: null,
    current: null, // {id, events} the current session
    earlier: [], // sessions seen to end while the user was shown
    labels: new Map(), // intent id -> short label (I1, I2...)
    errors: { session: '', recs: '' },
    modelVersion: '',
    streamOpen: false,
    items: new Map(), // item id -> {state: 'pending'|'ok'|'fail', data}
    itemsAvailable: true,
    points: new Map(), // item id -> {x, y, category}
    embVersion: null,
    embFor: '', // the model version the map was last fetched for
    embRequested: new Set(),
    embAvailable: true,
    embLoading: false,
  };

  // ---- helpers --------------------------------------------------------

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of kids.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  const num = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '–');
  const attrValue = (s) => String(s).replace(/["\\]/g, '\\$&');
  const isAbort = (e) => e && e.name === 'AbortError';
  const noRoute = (e) => e && e.status === 404 && /no route/i.test(e.message);

  function time(ts) {
    const d = new Date(ts);
    return Number.isNaN(d.getTime()) ? String(ts || '') : d.toLocaleTimeString();
  }

  function hue(s) {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    return (h >>> 0) % 360;
  }
  const colour = (cat, a = 1) => `hsla(${hue(cat || '')}, 65%, 45%, ${a})`;

  class HTTPError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function getJSON(url, signal) {
    const r = await fetch(url, { signal, headers: { Accept: 'application/json' } });
    let body = null;
    try {
      body = await r.json();
    } catch (_) {
      body = null;
    }
    if (!r.ok) throw new HTTPError(r.status, (body && body.error) || `${r.status} ${r.statusText}`);
    if (body === null) throw new HTTPError(r.status, 'not JSON');
    return body;
  }

  const inflight = {};
  async function load(kind, url) {
    if (inflight[kind]) inflight[kind].abort();
    const ac = new AbortController();
    inflight[kind] = ac;
    try {
      return await getJSON(url, ac.signal);
    } finally {
      if (inflight[kind] === ac) inflight[kind] = null;
    }
  }

  // guard runs f, reporting instead of throwing: one failing part of the
  // page must not stop the rest.
  function guard(f) {
    return (...args) => {
      try {
        return f(...args);
      } catch (e) {
        console.error(e);
        return undefined;
      }
    };
  }

  let lastAnnounce = 0;
  function announce(text, force) {
    const now = Date.now();
    if (!force && now - lastAnnounce < 5000) return;
    lastAnnounce = now;
    $('announce').textContent = text;
  }

  function setStatus(s, text) {
    const e = $('status');
    e.dataset.state = s;
    e.textContent = text;
  }

  // ---- URL ------------------------------------------------------------

  function readURL() {
    const p = new URLSearchParams(location.search);
    state.user = (p.get('user') || '').trim();
    for (const k of KNOBS) {
      const v = p.get(k);
      if (v !== null && v !== '') state.knobs[k] = v;
    }
  }

  function knobQuery() {
    const p = new URLSearchParams();
    for (const k of KNOBS) {
      const v = state.knobs[k];
      if (v !== undefined && v !== '') p.set(k, v);
    }
    return p;
  }

  function writeURL() {
    const p = knobQuery();
    const q = new URLSearchParams();
    if (state.user) q.set('user', state.user);
    for (const [k, v] of p) q.set(k, v);
    const s = q.toString();
    history.replaceState(null, '', s ? `?${s}` : location.pathname);
  }

  // ---- item details -----------------------------------------------------

  const detailQueue = [];
  let detailActive = 0;

  function itemView(id) {
    const v = el('span', { class: 'item', 'data-detail-for': id },
      el('span', { class: 'name', text: id }), el('span', { class: 'meta' }));
    const c = state.items.get(id);
    if (c && c.state === 'ok') fillDetail(v, c.data);
    else requestDetail(id);
    return v;
  }

  function fillDetail(v, d) {
    v.querySelector('.name').textContent = d.name || d.item_id;
    v.querySelector('.name').title = d.item_id;
    const price = Number.isFinite(d.price) ? d.price.toFixed(2) : '';
    const meta = v.querySelector('.meta');
    meta.replaceChildren(
      el('span', { class: 'cat', style: `--c:${colour(d.category)}`, text: d.category || '' }),
      d.brand ? ` · ${d.brand}` : '', price ? ` · ${price}` : '');
  }

  function requestDetail(id) {
    if (!state.itemsAvailable || state.items.has(id)) return;
    state.items.set(id, { state: 'pending' });
    detailQueue.push(id);
    pumpDetails();
  }

  function pumpDetails() {
    while (detailActive < 6 && detailQueue.length) {
      const id = detailQueue.shift();
      detailActive++;
      getJSON(`/v1/items/${encodeURIComponent(id)}`)
        .then((d) => {
          state.items.set(id, { state: 'ok', data: d });
          for (const v of document.querySelectorAll(`[data-detail-for="${attrValue(id)}"]`)) fillDetail(v, d);
        })
        .catch((e) => {
          state.items.set(id, { state: 'fail' });
          if (noRoute(e)) {
            state.itemsAvailable = false;
            detailQueue.length = 0;
          }
        })
        .finally(() => {
          detailActive--;
          pumpDetails();
        });
    }
  }

  // ---- users ----------------------------------------------------------

  async function loadUsers() {
    try {
      const b = await getJSON(`/v1/users?limit=${MAX_USERS}`);
      const list = b.users || [];
      list.forEach((u, i) => {
        const old = state.users.get(u.user_id);
        state.users.set(u.user_id, { ...u, seq: old && old.seq > 0 ? old.seq : -i });
      });
      $('users-note').hidden = true;
      renderUsers();
    } catch (e) {
      const n = $('users-note');
      n.textContent = 'The user list is not available here; users appear as their events arrive, or type an id above.';
      n.hidden = false;
      renderUsers();
    }
  }

  let usersTimer = 0;
  function scheduleUsers() {
    if (!usersTimer) usersTimer = setTimeout(() => { usersTimer = 0; renderUsers(); }, 500);
  }

  const renderUsers = guard(() => {
    const list = [...state.users.values()].sort((a, b) => b.seq - a.seq).slice(0, MAX_USERS);
    for (const u of state.users.values()) {
      if (!list.includes(u) && u.user_id !== state.user) state.users.delete(u.user_id);
    }
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.user : undefined;
    const ul = $('users');
    ul.replaceChildren(...list.map((u) => {
      const b = el('button', { type: 'button', 'data-user': u.user_id, 'aria-pressed': String(u.user_id === state.user) },
        el('span', { class: 'uid', text: u.user_id }),
        el('span', { class: 'umeta', text: `${u.events || 0} events${u.last_event ? ` · ${time(u.last_event)}` : ''}` }));
      return el('li', null, b);
    }));
    if (focused !== undefined) {
      const b = ul.querySelector(`[data-user="${attrValue(focused)}"]`);
      if (b) b.focus({ preventScroll: true });
    }
  });

  function selectUser(id) {
    id = (id || '').trim();
    if (!id || id === state.user) return;
    state.user = id;
    state.session = null;
    state.recs = null;
    state.current = null;
    state.earlier = [];
    state.labels = new Map();
    state.errors = { session: '', recs: '' };
    $('user-input').value = id;
    writeURL();
    for (const b of document.querySelectorAll('#users [data-user]')) {
      b.setAttribute('aria-pressed', String(b.dataset.user === id));
    }
    renderAll();
    announce(`Showing user ${id}`, true);
    refreshNow();
  }

  // ---- stream ---------------------------------------------------------

  let source = null;
  let backoff = 1000;
  let reconnectTimer = 0;

  function parse(data) {
    try {
      return JSON.parse(data);
    } catch (_) {
      return null;
    }
  }

  function connect() {
    clearTimeout(reconnectTimer);
    if (source) source.close();
    if (typeof EventSource === 'undefined') {
      setStatus('unavailable', 'no live stream in this browser: polling');
      return;
    }
    setStatus('connecting', 'connecting…');
    const src = new EventSource('/v1/stream');
    source = src;
    src.onopen = () => {
      state.streamOpen = true;
      backoff = 1000;
      setStatus('live', 'live');
      // The server listens for us from now on, but what it applied
      // before (since the page's first reads, or while the stream was
      // down) reached no one: read the chosen user and the list afresh,
      // or the page would wait for the user's next event to show it.
      if (state.user) scheduleRefresh(0);
      loadUsers();
    };
    src.onerror = () => {
      state.streamOpen = false;
      if (src.readyState === EventSource.CLOSED) reconnect('disconnected');
      else setStatus('reconnecting', 'reconnecting…');
    };
    src.addEventListener('applied', guard((m) => {
      const d = parse(m.data);
      if (d && d.user_id) onApplied(d);
    }));
    src.addEventListener('recommendation', guard((m) => {
      const d = parse(m.data);
      if (d && d.user_id === state.user) scheduleRefresh();
    }));
    src.addEventListener('dropped', guard((m) => {
      const d = parse(m.data) || {};
      src.close();
      state.streamOpen = false;
      reconnect(`dropped by the server${d.reason ? ` (${d.reason})` : ''}`);
    }));
  }

  function reconnect(why) {
    if (source) source.close();
    source = null;
    state.streamOpen = false;
    const wait = backoff;
    backoff = Math.min(backoff * 2, 30000);
    setStatus('reconnecting', `${why}; reconnecting in ${Math.round(wait / 1000)} s (polling meanwhile)`);
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, wait);
  }

  function onApplied(d) {
    const u = state.users.get(d.user_id) || { user_id: d.user_id, events: 0 };
    u.events = (u.events || 0) + 1;
    u.last_event = d.ts;
    u.seq = ++state.seq;
    state.users.set(d.user_id, u);
    scheduleUsers();
    if (d.user_id === state.user) {
      if (!state.current) state.current = { id: '', events: [] };
      state.current.events.push({ item_id: d.item_id, kind: d.kind, ts: d.ts, live: true });
      renderHistory();
      scheduleRefresh();
    }
  }

  // ---- refreshing ---------------------------------------------------------

  let refreshTimer = 0;
  let refreshing = false;
  let dirty = false;

  // scheduleRefresh refreshes within ms, however many events arrive
  // meanwhile: the first one starts the clock.
  function scheduleRefresh(ms = 200) {
    if (!refreshTimer) refreshTimer = setTimeout(() => { refreshTimer = 0; refreshNow(); }, ms);
  }

  async function refreshNow() {
    if (refreshing) {
      dirty = true;
      return;
    }
    refreshing = true;
    try {
      await Promise.all([refreshSession(), refreshRecs()]);
    } finally {
      refreshing = false;
      if (dirty) {
        dirty = false;
        scheduleRefresh(0);
      }
    }
  }

  let rerankTimer = 0;
  function scheduleRerank() {
    clearTimeout(rerankTimer);
    rerankTimer = setTimeout(refreshRecs, 250);
  }

  async function refreshSession() {
    const user = state.user;
    if (!user) return;
    try {
      const s = await load('session', `/v1/users/${encodeURIComponent(user)}/session`);
      if (user !== state.user) return;
      state.session = s;
      state.errors.session = '';
      takeSession(s);
      noteModel(s.model_version);
    } catch (e) {
      if (isAbort(e) || user !== state.user) return;
      state.errors.session = e.status === 404 ? `No events seen for ${user} yet.` : `Session: ${e.message}`;
    }
    renderHistory();
    renderIntents();
    renderMeta();
    afterData();
  }

  async function refreshRecs() {
    const user = state.user;
    if (!user) return;
    const q = knobQuery().toString();
    try {
      const r = await load('recs', `/v1/users/${encodeURIComponent(user)}/recommendations${q ? `?${q}` : ''}`);
      if (user !== state.user) return;
      const before = state.recs ? state.recs.items.map((i) => i.item_id).join() : '';
      state.recs = r;
      state.errors.recs = '';
      state.serverKnobs = r.knobs || null;
      fillKnobs();
      noteModel(r.model_version);
      const items = r.items || [];
      if (items.map((i) => i.item_id).join() !== before) {
        announce(`Recommendations for ${user} updated: ${items.length} items from ${new Set(items.map((i) => i.intent)).size} intents`);
      }
    } catch (e) {
      if (isAbort(e) || user !== state.user) return;
      state.errors.recs = e.status === 404 ? '' : `Recommendations: ${e.message}`;
      if (e.status === 404) state.recs = null;
    }
    renderIntents();
    renderRecs();
    renderMeta();
    afterData();
  }

  function takeSession(s) {
    const cur = state.current;
    if (cur && cur.id && s.session_id && cur.id !== s.session_id && cur.events.some((e) => !e.live)) {
      state.earlier.unshift({ id: cur.id, events: cur.events.filter((e) => !e.live) });
      state.earlier.length = Math.min(state.earlier.length, MAX_EARLIER);
    }
    state.current = { id: s.session_id || '', events: (s.events || []).slice() };
  }

  function noteModel(v) {
    if (v && v !== state.modelVersion) state.modelVersion = v;
  }

  function afterData() {
    drawMap();
    maybeFetchEmbedding();
  }

  // ---- rendering --------------------------------------------------------

  function label(id) {
    if (!state.labels.has(id)) state.labels.set(id, `I${state.labels.size + 1}`);
    return state.labels.get(id);
  }

  const renderAll = guard(() => {
    renderMeta();
    renderHistory();
    renderIntents();
    renderRecs();
    drawMap();
  });

  const renderMeta = guard(() => {
    $('user-title').textContent = state.user ? `User ${state.user}` : 'Choose a user';
    const s = state.session;
    const parts = [];
    if (s) {
      parts.push(`session ${s.session_id || '–'}`, `${s.applied} events applied`, `${s.sessions_closed} sessions closed`);
    }
    if (state.modelVersion) parts.push(`model ${state.modelVersion}`);
    $('user-meta').textContent = parts.join(' · ');
    const err = [state.errors.session, state.errors.recs].filter(Boolean).join(' ');
    $('error').textContent = err;
    $('error').hidden = !err;
  });

  function eventList(events) {
    const sorted = events.slice().sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts));
    return el('ol', { class: 'events' }, sorted.map((e) => el('li', { class: `ev ${e.kind}`, 'data-item-id': e.item_id },
      el('time', { datetime: e.ts, text: time(e.ts) }),
      el('span', { class: `kind ${e.kind}`, text: e.kind }),
      itemView(e.item_id))));
  }

  const renderHistory = guard(() => {
    const box = $('history');
    if (!state.user) {
      box.replaceChildren();
      return;
    }
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    const groups = [];
    const cur = state.current;
    groups.push(el('section', { class: 'session current', 'data-session': cur ? cur.id : '' },
      el('h4', { text: `Current session${cur && cur.id ? ` ${cur.id}` : ''}` }),
      cur && cur.events.length ? eventList(cur.events) : el('p', { class: 'note', text: 'No actions in this session.' })));
    for (const s of state.earlier) {
      groups.push(el('section', { class: 'session earlier', 'data-session': s.id },
        el('h4', { text: `Earlier session ${s.id}` }), eventList(s.events)));
    }
    box.replaceChildren(...groups);
    if (atBottom) box.scrollTop = box.scrollHeight;
  });

  function intentCard(i) {
    const cls = ['intent', i.current ? 'is-current' : '', i.past ? 'is-past' : ''].filter(Boolean).join(' ');
    const lab = label(i.id);
    return el('article', { class: cls, 'data-intent': i.id, 'aria-label': `Intent ${lab}` },
      el('h4', null, el('span', { class: 'tag', text: lab }), ' ', el('span', { class: 'iid', text: i.id }),
        i.current ? el('span', { class: 'badge', text: 'current' }) : null,
        i.past ? el('span', { class: 'badge past', text: 'past' }) : null),
      el('p', { class: 'stats' },
        `coherence ${num(i.coherence, 2)} · weight ${num(i.weight, 2)} `,
        el('meter', { min: 0, max: 1, value: Math.max(0, Math.min(1, i.weight || 0)), 'aria-label': `weight of ${lab}` })),
      el('ul', { class: 'members' }, (i.items || []).map((id) => el('li', null, itemView(id)))));
  }

  function shownIntents() {
    const s = state.session;
    const now = (state.recs && state.recs.intents) || (s && s.intents) || [];
    const seen = new Set(now.map((i) => i.id));
    const past = ((s && s.past_intents) || []).filter((i) => !seen.has(i.id));
    return { now, past };
  }

  const renderIntents = guard(() => {
    const box = $('intents');
    if (!state.user) {
      box.replaceChildren();
      return;
    }
    const { now, past } = shownIntents();
    const parts = [];
    parts.push(now.length ? el('div', { class: 'intent-list' }, now.map(intentCard))
      : el('p', { class: 'note', text: 'No intents yet.' }));
    if (past.length) {
      parts.push(el('h4', { class: 'sub', text: 'Past intents not in this ranking' }),
        el('div', { class: 'intent-list' }, past.map(intentCard)));
    }
    box.replaceChildren(...parts);
  });

  const renderRecs = guard(() => {
    const box = $('recs');
    const r = state.recs;
    if (!state.user || !r) {
      box.replaceChildren(state.user ? el('p', { class: 'note', text: 'No recommendations yet.' }) : '');
      return;
    }
    const items = r.items || [];
    if (!items.length) {
      box.replaceChildren(el('p', { class: 'note', text: 'No items: the filters may be too narrow.' }));
      return;
    }
    const order = (r.intents || []).map((i) => i.id);
    const byIntent = new Map(order.map((id) => [id, []]));
    items.forEach((it, rank) => {
      if (!byIntent.has(it.intent)) byIntent.set(it.intent, []);
      byIntent.get(it.intent).push({ it, rank });
    });
    const weights = new Map((r.intents || []).map((i) => [i.id, i.weight]));
    const groups = [];
    for (const [id, list] of byIntent) {
      if (!list.length) continue;
      const lab = label(id);
      groups.push(el('section', { class: 'rec-group', 'data-intent': id },
        el('h4', null, 'From ', el('span', { class: 'tag', text: lab }), ' ', el('span', { class: 'iid', text: id }),
          weights.has(id) ? el('span', { class: 'note', text: ` weight ${num(weights.get(id), 2)}` }) : null),
        el('ol', { class: 'rec-list' }, list.map(({ it, rank }) => el('li', {
          class: 'rec', 'data-item': it.item_id, 'data-from': it.intent, value: rank + 1,
        },
        itemView(it.item_id),
        el('span', { class: 'evidence' },
          el('span', { class: 'score', text: `score ${num(it.score)}` }),
          el('span', { text: `vector ${num(it.vector)}` }),
          el('span', { text: `neighbours ${num(it.neighbours)}` }),
          el('span', { class: 'from', text: `from ${lab}` })))))));
    }
    box.replaceChildren(...groups);
  });

  // ---- knobs ------------------------------------------------------------

  function updateOutputs() {
    for (const k of ['diversity', 'history', 'neighbours']) {
      $(`out-${k}`).textContent = Number($(`knob-${k}`).value).toFixed(2);
    }
  }

  function serverValue(k, sk) {
    if (!sk) return undefined;
    switch (k) {
      case 'half_life': return HALF_LIVES[Math.round(sk.half_life_s)] || '';
      case 'exclude_seen': return sk.exclude_seen ? 'true' : 'false';
      case 'min_price': case 'max_price': return sk[k] ? String(sk[k]) : '';
      default: return sk[k] === undefined || sk[k] === null ? undefined : String(sk[k]);
    }
  }

  // fillKnobs shows the knobs set by hand or the URL, and the server's
  // values of the others; it leaves alone the control being edited.
  const fillKnobs = guard(() => {
    for (const k of KNOBS) {
      const input = $(`knob-${k}`);
      if (!input || input === document.activeElement) continue;
      const v = k in state.knobs ? state.knobs[k] : serverValue(k, state.serverKnobs);
      if (v === undefined) continue;
      if (input.type === 'checkbox') input.checked = v === 'true' || v === '1';
      else input.value = v;
    }
    updateOutputs();
  });

  function onKnob(e) {
    const t = e.target;
    if (!KNOBS.includes(t.name)) return;
    if (t.type === 'checkbox') {
      state.knobs[t.name] = String(t.checked);
    } else {
      const v = t.value.trim();
      if (v === '' || (t.validity && !t.validity.valid)) delete state.knobs[t.name];
      else state.knobs[t.name] = v;
      t.setAttribute('aria-invalid', String(!!(t.validity && !t.validity.valid)));
    }
    updateOutputs();
    writeURL();
    scheduleRerank();
  }

  // ---- embedding map ------------------------------------------------------

  function wantedItems() {
    const ids = new Set();
    if (state.current) for (const e of state.current.events) ids.add(e.item_id);
    const { now, past } = shownIntents();
    for (const i of now.concat(past)) for (const id of i.items || []) ids.add(id);
    if (state.recs) for (const it of state.recs.items || []) ids.add(it.item_id);
    return [...ids];
  }

  let embRetry = 0;
  async function maybeFetchEmbedding() {
    if (state.embLoading || !state.embAvailable) return;
    const want = wantedItems();
    const missing = want.filter((id) => !state.points.has(id) && !state.embRequested.has(id));
    const stale = state.embVersion === null || (state.modelVersion && state.embFor !== state.modelVersion);
    if (!stale && !missing.length) return;
    if (Date.now() < embRetry) return;
    state.embLoading = true;
    state.embFor = state.modelVersion;
    const include = want.slice(0, 300);
    include.forEach((id) => state.embRequested.add(id));
    try {
      const b = await getJSON(`/v1/embedding${include.length ? `?include=${include.map(encodeURIComponent).join(',')}` : ''}`);
      if (b.model_version !== state.embVersion) state.points = new Map();
      state.embVersion = b.model_version || '';
      for (const p of b.items || []) {
        if (Number.isFinite(p.x) && Number.isFinite(p.y)) state.points.set(p.item_id, { x: p.x, y: p.y, category: p.category || '' });
      }
      if (b.model_version && !state.modelVersion) state.modelVersion = b.model_version;
      baseDirty = true;
      renderLegend();
      drawMap();
    } catch (e) {
      include.forEach((id) => state.embRequested.delete(id));
      if (noRoute(e)) {
        state.embAvailable = false;
        $('map-note').textContent = 'The catalogue map is not available from this server.';
      } else {
        embRetry = Date.now() + 5000;
      }
    } finally {
      state.embLoading = false;
    }
  }

  let base = null;
  let baseDirty = true;
  let view = null; // {w, h, dpr, sx, sy, ox, oy}
  let drawQueued = false;

  function project(p) {
    return [view.ox + (p.x - view.minX) * view.s, view.oy + (view.maxY - p.y) * view.s];
  }

  function layout() {
    const c = $('map');
    const w = Math.max(200, c.parentElement.clientWidth || 640);
    const h = Math.round(Math.min(600, Math.max(240, w * 0.7)));
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
      c.style.height = `${h}px`;
      baseDirty = true;
    }
    let minX = Infinity; let maxX = -Infinity; let minY = Infinity; let maxY = -Infinity;
    const extend = (p) => {
      if (p.x < minX) minX = p.x;
      if (p.x > maxX) maxX = p.x;
      if (p.y < minY) minY = p.y;
      if (p.y > maxY) maxY = p.y;
    };
    for (const p of state.points.values()) extend(p);
    if (!Number.isFinite(minX)) { minX = 0; maxX = 1; minY = 0; maxY = 1; }
    // Zoomed, the view fits the highlighted items, at least a fifth of
    // the whole map across.
    const lit = $('map-zoom').checked ? wantedItems().map((id) => state.points.get(id)).filter(Boolean) : [];
    if (lit.length) {
      const span = Math.max(maxX - minX, maxY - minY) / 5;
      minX = Infinity; maxX = -Infinity; minY = Infinity; maxY = -Infinity;
      lit.forEach(extend);
      const cx = (minX + maxX) / 2; const cy = (minY + maxY) / 2;
      const hx = Math.max(maxX - minX, span) * 0.6; const hy = Math.max(maxY - minY, span) * 0.6;
      minX = cx - hx; maxX = cx + hx; minY = cy - hy; maxY = cy + hy;
    }
    const pad = 16;
    const s = Math.min((w - 2 * pad) / ((maxX - minX) || 1), (h - 2 * pad) / ((maxY - minY) || 1));
    const key = [w, h, dpr, s, minX, maxY].join();
    if (!view || view.key !== key) baseDirty = true;
    view = {
      key, w, h, dpr, s, minX, maxY,
      ox: (w - (maxX - minX) * s) / 2, oy: (h - (maxY - minY) * s) / 2,
    };
  }

  function drawBase() {
    base = base || document.createElement('canvas');
    base.width = Math.round(view.w * view.dpr);
    base.height = Math.round(view.h * view.dpr);
    const g = base.getContext('2d');
    g.setTransform(view.dpr, 0, 0, view.dpr, 0, 0);
    g.fillStyle = '#fbfbfd';
    g.fillRect(0, 0, view.w, view.h);
    const byCat = new Map();
    for (const p of state.points.values()) {
      if (!byCat.has(p.category)) byCat.set(p.category, []);
      byCat.get(p.category).push(p);
    }
    const n = state.points.size;
    const r = n > 2000 ? 2 : n > 500 ? 3 : 4;
    for (const [cat, ps] of byCat) {
      g.fillStyle = colour(cat, 0.45);
      for (const p of ps) {
        const [x, y] = project(p);
        g.fillRect(x - r / 2, y - r / 2, r, r);
      }
    }
    baseDirty = false;
  }

  function drawMap() {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(guard(() => {
      drawQueued = false;
      paint();
    }));
  }

  function paint() {
    const c = $('map');
    const ctx = c.getContext && c.getContext('2d');
    if (!ctx) return;
    layout();
    if (baseDirty || !base) drawBase();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(base, 0, 0);
    ctx.setTransform(view.dpr, 0, 0, view.dpr, 0, 0);
    if (!state.points.size) {
      ctx.fillStyle = '#555';
      ctx.font = '14px system-ui, sans-serif';
      ctx.fillText(state.embAvailable ? 'Loading the catalogue map…' : 'No catalogue map from this server.', 16, 28);
      return;
    }
    const pt = (id) => state.points.get(id);
    // Session items: rings.
    const session = state.current ? [...new Set(state.current.events.map((e) => e.item_id))] : [];
    ctx.lineWidth = 2;
    for (const id of session) {
      const p = pt(id);
      if (!p) continue;
      const [x, y] = project(p);
      ctx.strokeStyle = '#111';
      ctx.beginPath();
      ctx.arc(x, y, 5, 0, 2 * Math.PI);
      ctx.stroke();
    }
    // Intent centroids: the mean of their members' points.
    const { now, past } = shownIntents();
    const centroids = new Map();
    for (const i of now.concat(past)) {
      const ps = (i.items || []).map(pt).filter(Boolean);
      if (!ps.length) continue;
      const x = ps.reduce((a, p) => a + p.x, 0) / ps.length;
      const y = ps.reduce((a, p) => a + p.y, 0) / ps.length;
      centroids.set(i.id, { pos: project({ x, y }), intent: i });
    }
    // Recommendations: diamonds, a thin line to their intent's centroid.
    const recs = state.recs ? state.recs.items || [] : [];
    for (const it of recs) {
      const p = pt(it.item_id);
      if (!p) continue;
      const [x, y] = project(p);
      const cen = centroids.get(it.intent);
      if (cen) {
        ctx.strokeStyle = 'rgba(40,40,60,0.35)';
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(cen.pos[0], cen.pos[1]);
        ctx.lineTo(x, y);
        ctx.stroke();
      }
      ctx.fillStyle = colour(p.category, 1);
      ctx.strokeStyle = '#111';
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(x, y - 7);
      ctx.lineTo(x + 7, y);
      ctx.lineTo(x, y + 7);
      ctx.lineTo(x - 7, y);
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
    }
    ctx.font = 'bold 12px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    for (const [id, { pos, intent }] of centroids) {
      // A cross at the centroid, its label beside it: the members stay
      // visible.
      const [x, y] = pos;
      const ink = intent.past && !intent.current ? 'rgba(90,90,110,0.9)' : 'rgba(20,20,40,0.9)';
      ctx.strokeStyle = ink;
      ctx.lineWidth = 2.5;
      ctx.beginPath();
      ctx.moveTo(x - 7, y - 7);
      ctx.lineTo(x + 7, y + 7);
      ctx.moveTo(x + 7, y - 7);
      ctx.lineTo(x - 7, y + 7);
      ctx.stroke();
      const lx = x + 20; const ly = y - 18;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(x + 5, y - 5);
      ctx.lineTo(lx - 8, ly + 8);
      ctx.stroke();
      ctx.fillStyle = ink;
      ctx.beginPath();
      ctx.arc(lx, ly, 11, 0, 2 * Math.PI);
      ctx.fill();
      ctx.fillStyle = '#fff';
      ctx.fillText(label(id), lx, ly + 0.5);
    }
    ctx.textAlign = 'start';
    ctx.textBaseline = 'alphabetic';
    c.setAttribute('aria-label', `Catalogue map: ${state.points.size} items; ${session.length} session items, `
      + `${recs.length} recommendations and ${centroids.size} intent centroids highlighted`);
  }

  const renderLegend = guard(() => {
    const counts = new Map();
    for (const p of state.points.values()) counts.set(p.category, (counts.get(p.category) || 0) + 1);
    const cats = [...counts].sort((a, b) => b[1] - a[1]);
    const shown = cats.slice(0, 16);
    const rest = cats.slice(16).reduce((a, c) => a + c[1], 0);
    $('legend').replaceChildren(...shown.map(([cat, n]) => el('li', null,
      el('span', { class: 'swatch', style: `background:${colour(cat)}`, 'aria-hidden': 'true' }), `${cat || '(none)'} (${n})`)),
    ...(rest ? [el('li', { text: `${cats.length - 16} more categories (${rest})` })] : []));
  });

  // ---- start --------------------------------------------------------------

  function start() {
    readURL();
    $('user-input').value = state.user;
    fillKnobs();
    $('knobs').addEventListener('input', guard(onKnob));
    $('knobs').addEventListener('change', guard((e) => {
      if (e.target.type === 'checkbox' || e.target.tagName === 'SELECT') onKnob(e);
    }));
    $('knobs').addEventListener('submit', (e) => e.preventDefault());
    $('knobs').addEventListener('focusout', guard(() => setTimeout(fillKnobs, 0)));
    $('knobs-reset').addEventListener('click', guard(() => {
      state.knobs = {};
      for (const k of KNOBS) $(`knob-${k}`).removeAttribute('aria-invalid');
      writeURL();
      fillKnobs();
      refreshRecs();
    }));
    $('user-form').addEventListener('submit', guard((e) => {
      e.preventDefault();
      selectUser($('user-input').value);
    }));
    $('users').addEventListener('click', guard((e) => {
      const b = e.target.closest('button[data-user]');
      if (b) selectUser(b.dataset.user);
    }));
    $('map-zoom').addEventListener('change', drawMap);
    if (typeof ResizeObserver !== 'undefined') new ResizeObserver(drawMap).observe($('map').parentElement);
    else window.addEventListener('resize', drawMap);

    renderAll();
    connect();
    loadUsers();
    maybeFetchEmbedding();
    if (state.user) {
      const u = state.user;
      state.user = '';
      selectUser(u);
    }
    // Without the stream, poll: the chosen user every 3 s, the list every
    // 15 s; with it, resynchronise the list now and then.
    setInterval(() => {
      if (!state.streamOpen && state.user && !document.hidden) refreshNow();
    }, 3000);
    setInterval(() => {
      if (!document.hidden) loadUsers();
    }, 15000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
