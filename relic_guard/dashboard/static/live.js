/* The live alert queue: GET /events (Server-Sent Events) kept in <table id="alert-queue">.
 *
 * The page provides (the words come from the page, so it controls the language):
 *   <table id="alert-queue" data-events-url="/events">   data-events-url optional
 *     <thead><tr><th data-col="severity">…</th> …</tr></thead>   which columns, in order (optional):
 *        severity category title site zone device opened_at last_seen_at status count assigned_to
 *     <tbody></tbody>
 *   <span id="live-status" data-live="实时" data-reconnecting="连接中断，正在重连…"
 *         data-alarm-title="【紧急告警】"></span>
 *   <button id="sound-toggle" data-on="报警声音：开" data-off="报警声音：关"></button>
 *   <div id="sound-unlock" hidden>点击启用报警声音 / click to enable alarm sound</div>  optional
 *
 * Rows: <tr data-id data-severity data-status class="sev-… status-… [drill] [critical-new]">,
 * critical first, oldest first within a severity. After a row is drawn it dispatches the bubbling
 * event "live:row" (detail: the alert object), for page scripts that add buttons to it.
 *
 * Sound: browsers play audio only after a user gesture on the page, so a banner asks for one
 * click and stays until it comes; an alarm that arrives before it sounds on that click. While a
 * critical alert stays unacknowledged the alarm sounds again every `data-alarm-repeat-s` seconds
 * of the table (default 30): one burst at 3 a.m. is easily missed, a steady call is not.
 */
(function () {
  'use strict';

  const table = document.getElementById('alert-queue');
  if (!table) return;
  const tbody = table.tBodies[0] || table.appendChild(document.createElement('tbody'));
  const statusEl = document.getElementById('live-status');
  const toggle = document.getElementById('sound-toggle');
  const url = table.getAttribute('data-events-url') || '/events';
  const RANK = {critical: 4, major: 3, minor: 2, warning: 1, info: 0};
  const CLOSED = {resolved: true, false_alarm: true};
  const MUTE_KEY = 'relic-guard.alarm-muted';
  const REPEAT_MS = 1000 * (Number(table.getAttribute('data-alarm-repeat-s')) || 30);
  const baseTitle = document.title;

  const heads = table.querySelectorAll('thead th[data-col]');
  const columns = heads.length
    ? Array.prototype.map.call(heads, (th) => th.getAttribute('data-col'))
    : ['severity', 'category', 'title', 'site', 'opened_at', 'status'];

  function text(el, name, fallback) {
    return (el && el.getAttribute(name)) || fallback;
  }
  window.relicGuardWord = function (kind, value, fallback) { return word(kind, value, fallback); };

  // Status indicator -----------------------------------------------------------------------

  function setStatus(state) {
    if (!statusEl) return;
    statusEl.textContent = state === 'live'
      ? text(statusEl, 'data-live', '实时')
      : text(statusEl, 'data-reconnecting', '连接中断，正在重连…');
    statusEl.setAttribute('data-state', state);
    statusEl.classList.toggle('live', state === 'live');
    statusEl.classList.toggle('reconnecting', state !== 'live');
  }

  // Rows ---------------------------------------------------------------------------------

  // The site's wall clock as the server wrote it (RFC 3339 with the site's offset).
  function clock(value) {
    return typeof value === 'string' ? value.slice(0, 19).replace('T', ' ') : '';
  }

  // The page's own words (its language) for coded values; the feed's labels are Chinese.
  let pageWords = null;
  function word(kind, value, fallback) {
    if (pageWords === null) {
      pageWords = {};
      const table = document.getElementById('alert-queue');
      try {
        pageWords = JSON.parse((table && table.getAttribute('data-words')) || '{}') || {};
      } catch (e) {
        pageWords = {};
      }
    }
    return (pageWords[kind] || {})[value] || fallback || value;
  }

  function cell(alert, col) {
    const labels = alert.labels || {};
    const site = alert.site || {};
    switch (col) {
      case 'severity': return word('severity', alert.severity, labels.severity);
      case 'category': return word('category', alert.category, labels.category);
      case 'status': return word('status', alert.status, labels.status);
      case 'site': return site.name || site.id || '';
      case 'opened_at': return clock(alert.opened_at);
      case 'last_seen_at': return clock(alert.last_seen_at);
      default: return alert[col] == null ? '' : String(alert[col]);
    }
  }

  function alarming(alert) {
    return alert.severity === 'critical' && alert.status === 'open';
  }

  function makeRow(alert, flagged) {
    const tr = document.createElement('tr');
    tr.setAttribute('data-id', alert.id);
    tr.setAttribute('data-severity', alert.severity);
    tr.setAttribute('data-status', alert.status);
    tr.setAttribute('data-opened', String(Date.parse(alert.opened_at) || 0));
    tr.className = 'sev-' + alert.severity + ' status-' + alert.status;
    if (alert.drill) tr.classList.add('drill');
    if (flagged) tr.classList.add('critical-new');
    for (const col of columns) {
      const td = document.createElement('td');
      td.setAttribute('data-col', col);
      td.textContent = cell(alert, col); // never HTML: names come from configuration files
      tr.appendChild(td);
    }
    return tr;
  }

  function before(a, b) {
    const ra = RANK[a.getAttribute('data-severity')] || 0;
    const rb = RANK[b.getAttribute('data-severity')] || 0;
    if (ra !== rb) return ra > rb;
    const oa = Number(a.getAttribute('data-opened'));
    const ob = Number(b.getAttribute('data-opened'));
    if (oa !== ob) return oa < ob;
    return a.getAttribute('data-id') < b.getAttribute('data-id');
  }

  function place(tr, alert) {
    let next = null;
    for (const other of tbody.rows) {
      if (before(tr, other)) { next = other; break; }
    }
    tbody.insertBefore(tr, next);
    tr.dispatchEvent(new CustomEvent('live:row', {bubbles: true, detail: alert}));
  }

  function rowOf(id) {
    for (const tr of tbody.rows) if (tr.getAttribute('data-id') === id) return tr;
    return null;
  }

  // Ids this script has shown: a reconnect's snapshot sounds only for what is new since. Rows the
  // server rendered into the page do not count, so a freshly opened screen sounds for every
  // unacknowledged critical alert.
  let seen = new Set();

  function onSnapshot(body) {
    const alerts = body.alerts || [];
    let fresh = false;
    while (tbody.rows.length) tbody.deleteRow(0);
    for (const alert of alerts) {
      // Every unacknowledged critical alert is flagged; only those not shown before sound.
      if (alarming(alert) && !seen.has(alert.id)) fresh = true;
      place(makeRow(alert, alarming(alert)), alert);
    }
    seen = new Set(alerts.map((alert) => alert.id));
    if (fresh) raiseAlarm();
    updateTitle();
  }

  function onAlert(alert) {
    const old = rowOf(alert.id);
    if (old) old.remove();
    if (CLOSED[alert.status]) { seen.delete(alert.id); updateTitle(); return; }
    seen.add(alert.id);
    // New to this page, or just raised to critical: sound. A repeat of a flagged alert: keep the flag.
    const fresh = alarming(alert) && (!old || old.getAttribute('data-severity') !== 'critical');
    const flagged = fresh || (alarming(alert) && old !== null && old.classList.contains('critical-new'));
    place(makeRow(alert, flagged), alert);
    if (fresh) raiseAlarm();
    updateTitle();
  }

  // Title flashing, while some critical alert is unacknowledged ----------------------------

  let flashTimer = 0;
  let flashOn = false;

  let repeatTimer = 0;

  function updateTitle() {
    const row = tbody.querySelector('tr.critical-new');
    if (!row) {
      if (flashTimer) { clearInterval(flashTimer); flashTimer = 0; }
      if (repeatTimer) { clearInterval(repeatTimer); repeatTimer = 0; }
      document.title = baseTitle;
      return;
    }
    if (!flashTimer) flashTimer = setInterval(flash, 1000);
    if (!repeatTimer) repeatTimer = setInterval(repeatAlarm, REPEAT_MS);
  }

  function repeatAlarm() {
    if (tbody.querySelector('tr.critical-new')) raiseAlarm(); else updateTitle();
  }

  function flash() {
    const row = tbody.querySelector('tr.critical-new');
    if (!row) { updateTitle(); return; }
    flashOn = !flashOn;
    const title = row.querySelector('td[data-col="title"]');
    const prefix = text(statusEl, 'data-alarm-title', '【紧急告警】');
    document.title = flashOn ? prefix + (title ? ' ' + title.textContent : '') : baseTitle;
  }

  // Sound: a two-tone alarm made with WebAudio (no audio file to fetch) --------------------

  let audio = null;
  let playing = null;
  let pending = false;
  let banner = document.getElementById('sound-unlock');

  function muted() {
    try { return localStorage.getItem(MUTE_KEY) === '1'; } catch (e) { return false; }
  }

  function showToggle() {
    if (!toggle) return;
    const on = !muted();
    toggle.textContent = on ? text(toggle, 'data-on', '报警声音：开') : text(toggle, 'data-off', '报警声音：关');
    toggle.setAttribute('aria-pressed', String(on));
  }

  function raiseAlarm() {
    if (!audio) { pending = true; return; } // no gesture yet: sounds on the first one
    if (muted()) return;
    if (audio.state === 'running') { beep(); return; }
    // Suspended again (the machine slept, the tab was in the background): the page has had its
    // gesture, which browsers remember, so resuming is allowed.
    audio.resume().then(() => { if (audio.state === 'running') beep(); else pending = true; },
      () => { pending = true; });
  }

  function beep() {
    if (playing) { try { playing.stop(); } catch (e) { /* already stopped */ } }
    const t = audio.currentTime;
    const length = 3.0; // seconds; the row's flag and the title keep calling after it stops
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = 'square';
    // Two tones alternating every quarter second: heard as an alarm, not as a notification chime.
    for (let i = 0; i * 0.25 < length; i++) osc.frequency.setValueAtTime(i % 2 ? 660 : 960, t + i * 0.25);
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.25, t + 0.02);
    gain.gain.setValueAtTime(0.25, t + length - 0.05);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + length);
    osc.connect(gain);
    gain.connect(audio.destination);
    osc.start(t);
    osc.stop(t + length);
    playing = osc;
    osc.onended = () => { if (playing === osc) playing = null; };
  }

  function unlock() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) audio = new Ctx();
    const resumed = audio.state === 'running' ? Promise.resolve() : audio.resume();
    resumed.then(() => {
      if (audio.state !== 'running') return;
      if (banner) banner.hidden = true;
      for (const name of ['pointerdown', 'keydown', 'touchstart']) document.removeEventListener(name, unlock, true);
      if (pending && tbody.querySelector('tr.critical-new')) raiseAlarm();
      pending = false;
    }, () => { /* still no gesture the browser accepts: the banner stays */ });
  }

  if (!banner) {
    banner = document.createElement('div');
    banner.id = 'sound-unlock';
    banner.textContent = '点击启用报警声音 / click to enable alarm sound';
    banner.style.cssText = 'position:fixed;top:0;left:0;right:0;z-index:1000;padding:.6em 1em;' +
      'background:#b91c1c;color:#fff;font-weight:700;text-align:center;cursor:pointer';
    document.body.insertBefore(banner, document.body.firstChild);
  }
  banner.hidden = false;
  for (const name of ['pointerdown', 'keydown', 'touchstart']) document.addEventListener(name, unlock, true);

  if (toggle) {
    toggle.addEventListener('click', () => {
      const mute = !muted();
      try { localStorage.setItem(MUTE_KEY, mute ? '1' : '0'); } catch (e) { /* private mode: this page only */ }
      if (mute && playing) { try { playing.stop(); } catch (e) { /* already stopped */ } }
      showToggle();
    });
    showToggle();
  }

  // The connection ---------------------------------------------------------------------------

  let source = null;
  let retryMs = 3000;

  function connect() {
    source = new EventSource(url);
    source.onopen = () => { retryMs = 3000; setStatus('live'); };
    source.onerror = () => {
      setStatus('reconnecting');
      // CONNECTING: the browser retries by itself. CLOSED (an error answer, e.g. 401 or 503):
      // it gives up, so try again ourselves, less and less often.
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      }
    };
    source.addEventListener('snapshot', (e) => onSnapshot(JSON.parse(e.data)));
    source.addEventListener('alert', (e) => onAlert(JSON.parse(e.data)));
    // This screen fell behind and events were dropped: start over from the page.
    source.addEventListener('resync', () => { source.close(); location.reload(); });
  }

  connect();
})();
