/* The alert queue's keyboard and the alert page's buttons. The pages work without this file:
 * it only adds shortcuts, keeps the queue's counts and ages current, and sends the alert page's
 * forms to the API (same service calls, same actor) so an error shows without leaving the page.
 *
 * Queue (<table id="alert-queue">, rows kept by live.js):
 *   j / ↓  next row · k / ↑  previous row · Enter  open it · a  acknowledge it · ?  the shortcut list
 * Alert page (<article id="alert-page">):
 *   Alt+A  acknowledge (button#ack)
 *
 * Every POST carries the session's CSRF token from <meta name="csrf">. Text from the server is
 * only ever set as textContent: titles and names come from configuration files and devices.
 */
(function () {
  'use strict';

  const csrfMeta = document.querySelector('meta[name="csrf"]');
  const csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';

  function attr(el, name, fallback) {
    return (el && el.getAttribute(name)) || fallback;
  }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (all, key) => (key in values ? String(values[key]) : all));
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    const tag = target.tagName.toLowerCase();
    return tag === 'input' || tag === 'textarea' || tag === 'select' || target.isContentEditable;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': csrf},
      body: JSON.stringify(body || {}),
    });
    let answer = {};
    try { answer = await response.json(); } catch (e) { /* not JSON: a proxy's error page */ }
    if (!response.ok) {
      const error = new Error((answer && answer.error) || (response.status + ' ' + response.statusText));
      error.status = response.status;
      throw error;
    }
    return answer;
  }

  // Ages: "12分钟前", with the page's words (data-age-*) and against the server's clock ------------------

  function ager(holder) {
    if (!holder) return null;
    // The server's clock at render time against the browser's: ages stay right on a skewed PC.
    const skew = Date.now() - Number(attr(holder, 'data-now', String(Date.now())));
    const words = (name, values) => format(attr(holder, 'data-age-' + name, ''), values);
    return function (openedMs) {
      const s = Math.max(0, Math.floor((Date.now() - skew - openedMs) / 1000));
      if (s < 5) return words('now', {});
      if (s < 60) return words('s', {s: s});
      if (s < 3600) return words('m', {m: Math.floor(s / 60)});
      if (s < 86400) return words('hm', {h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60)});
      return words('dh', {d: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600)});
    };
  }

  // The queue ----------------------------------------------------------------------------------------

  function queuePage(table) {
    const page = document.getElementById('queue-page');
    const tbody = table.tBodies[0] || table.appendChild(document.createElement('tbody'));
    const help = document.getElementById('shortcut-help');
    const hint = document.querySelector('.shortcut-hint');
    const message = document.getElementById('queue-message');
    const banner = document.getElementById('critical-banner');
    const empty = document.getElementById('queue-empty');
    const toggle = document.getElementById('sound-toggle');
    const canAck = table.getAttribute('data-can-ack') === '1';
    const age = ager(page);
    const heads = {};
    for (const th of table.querySelectorAll('thead th[data-col]')) heads[th.getAttribute('data-col')] = th.textContent;
    let selected = null; // the id of the highlighted row: rows are replaced, the choice stays

    if (toggle) toggle.hidden = false; // live.js makes it work
    if (hint) hint.hidden = false;

    function say(text, isError) {
      if (!message) return;
      message.textContent = text;
      message.classList.toggle('error', !!isError);
      message.hidden = !text;
    }

    function rows() {
      return Array.prototype.slice.call(tbody.rows);
    }

    function cellOf(tr, col) {
      return tr.querySelector('td[data-col="' + col + '"]');
    }

    // live.js draws plain text cells; give them what the server's rows have.
    function enhance(tr, alert) {
      const site = alert.site || {};
      const labels = alert.labels || {};
      const sev = cellOf(tr, 'severity');
      if (sev) {
        const badge = document.createElement('span');
        badge.className = 'sev sev-' + alert.severity;
        badge.textContent = window.relicGuardWord
          ? window.relicGuardWord('severity', alert.severity, labels.severity)
          : labels.severity || alert.severity;
        sev.textContent = '';
        sev.appendChild(badge);
      }
      const title = cellOf(tr, 'title');
      if (title) {
        const link = document.createElement('a');
        link.href = '/alerts/' + encodeURIComponent(alert.id);
        link.textContent = alert.title || '';
        title.textContent = '';
        title.appendChild(link);
        if (alert.drill) title.appendChild(sub('tag', attr(table, 'data-drill', '演练')));
      }
      const where = cellOf(tr, 'site');
      if (where && site.district) where.appendChild(sub('sub', site.district));
      const device = cellOf(tr, 'device');
      if (device && alert.zone) device.appendChild(sub('sub', alert.zone));
      const opened = cellOf(tr, 'opened_at');
      if (opened && age) opened.appendChild(sub('sub age', age(Number(tr.getAttribute('data-opened')))));
      for (const td of tr.cells) {
        const col = td.getAttribute('data-col');
        if (col && col !== 'title' && col !== 'severity' && heads[col]) td.setAttribute('data-label', heads[col]);
      }
      if (tr.getAttribute('data-id') === selected) tr.classList.add('kb-selected');
    }

    function sub(className, text) {
      const span = document.createElement('span');
      span.className = className;
      span.textContent = text;
      return span;
    }

    // Counts, the red banner and the empty note follow the rows, whoever changed them.
    function recount() {
      const counts = {};
      let flagged = 0;
      for (const tr of rows()) {
        const sev = tr.getAttribute('data-severity');
        counts[sev] = (counts[sev] || 0) + 1;
        if (sev === 'critical' && tr.getAttribute('data-status') === 'open') flagged += 1;
      }
      let total = 0;
      for (const li of document.querySelectorAll('#severity-summary li[data-severity]')) {
        const sev = li.getAttribute('data-severity');
        if (sev === 'total') continue;
        const n = counts[sev] || 0;
        total += n;
        const out = li.querySelector('.n');
        if (out) out.textContent = String(n);
        li.classList.toggle('zero', n === 0);
      }
      const totalEl = document.getElementById('total-count');
      if (totalEl) totalEl.textContent = String(total);
      if (banner) {
        banner.hidden = flagged === 0;
        banner.textContent = format(attr(banner, 'data-template', '{n}'), {n: flagged});
      }
      if (empty) empty.hidden = tbody.rows.length > 0;
      if (selected && !rows().some((tr) => tr.getAttribute('data-id') === selected)) selected = null;
    }

    function refreshAges() {
      if (!age) return;
      for (const tr of rows()) {
        const out = tr.querySelector('.age');
        if (out) out.textContent = age(Number(tr.getAttribute('data-opened')));
      }
    }

    document.addEventListener('live:row', (event) => {
      if (event.target && event.target.parentNode === tbody) enhance(event.target, event.detail || {});
    });
    new MutationObserver(recount).observe(tbody, {childList: true});
    setInterval(refreshAges, 15000);
    recount();

    // The keyboard --------------------------------------------------------------------------

    function current() {
      return rows().find((tr) => tr.getAttribute('data-id') === selected) || null;
    }

    function select(tr) {
      for (const other of tbody.querySelectorAll('tr.kb-selected')) {
        other.classList.remove('kb-selected');
        other.removeAttribute('aria-selected');
      }
      selected = tr ? tr.getAttribute('data-id') : null;
      if (!tr) return;
      tr.classList.add('kb-selected');
      tr.setAttribute('aria-selected', 'true');
      tr.scrollIntoView({block: 'nearest'});
    }

    function move(step) {
      const all = rows();
      if (!all.length) return false;
      const at = all.indexOf(current());
      const next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
      select(all[next]);
      return true;
    }

    function titleOf(tr) {
      const cell = cellOf(tr, 'title');
      const link = cell && cell.querySelector('a');
      return (link || cell || tr).textContent.trim();
    }

    async function acknowledge(tr) {
      const id = tr.getAttribute('data-id');
      if (tr.getAttribute('data-status') !== 'open') {
        say(attr(table, 'data-ack-not-open', ''), true);
        return;
      }
      try {
        await post('/api/alerts/' + encodeURIComponent(id) + '/ack');
      } catch (error) {
        if (error.status === 409) say(attr(table, 'data-ack-not-open', ''), true);
        else say(format(attr(table, 'data-ack-failed', '{error}'), {error: error.message}), true);
        return;
      }
      say(format(attr(table, 'data-ack-done', '{title}'), {title: titleOf(tr)}), false);
      // The live feed redraws the row; until it does (or without it), show the change here.
      const row = rows().find((other) => other.getAttribute('data-id') === id);
      if (row && row.getAttribute('data-status') === 'open') {
        row.setAttribute('data-status', 'acknowledged');
        row.classList.remove('status-open', 'critical-new');
        row.classList.add('status-acknowledged');
        const status = cellOf(row, 'status');
        if (status) status.textContent = attr(table, 'data-status-acknowledged', 'acknowledged');
        recount();
      }
    }

    function toggleHelp(show) {
      if (!help) return;
      help.hidden = show === undefined ? !help.hidden : !show;
    }

    document.addEventListener('keydown', (event) => {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      const key = event.key;
      if (key === '?') {
        toggleHelp();
      } else if (key === 'Escape') {
        if (help && !help.hidden) toggleHelp(false);
        else select(null);
        return;
      } else if (key === 'j' || key === 'ArrowDown') {
        if (!move(1)) return;
      } else if (key === 'k' || key === 'ArrowUp') {
        if (!move(-1)) return;
      } else if (key === 'Enter') {
        const tr = current();
        // Enter on a focused link or button keeps its own meaning.
        if (!tr || (event.target && event.target.closest && event.target.closest('a, button'))) return;
        location.href = '/alerts/' + encodeURIComponent(tr.getAttribute('data-id'));
      } else if (key === 'a') {
        const tr = current();
        if (!tr || !canAck) return;
        acknowledge(tr);
      } else {
        return;
      }
      event.preventDefault();
    });

    // A click selects a row too, so `a` works on what the mouse chose.
    tbody.addEventListener('click', (event) => {
      const tr = event.target.closest && event.target.closest('tr');
      if (tr && tr.parentNode === tbody && !event.target.closest('a')) select(tr);
    });
  }

  // The alert page -----------------------------------------------------------------------------------

  function alertPage(page) {
    const api = page.getAttribute('data-api');
    const message = document.getElementById('action-message');
    const age = ager(page);

    function fail(text) {
      if (!message) return;
      message.textContent = attr(page, 'data-failed', '') + text;
      message.hidden = false;
      message.scrollIntoView({block: 'nearest'});
    }

    function bodyOf(form, submitter) {
      const kind = form.getAttribute('data-action');
      const value = (name) => {
        const field = form.elements.namedItem(name);
        return field && 'value' in field ? field.value : '';
      };
      if (kind === 'assign') return {to: value('to').trim()};
      if (kind === 'note') return {note: value('note').trim()};
      if (kind === 'resolve') {
        const note = value('note').trim() || null;
        if (submitter && submitter.value === 'false_alarm') return {false_alarm: true, note: note};
        return {classification: value('classification'), note: note};
      }
      return {};
    }

    for (const form of page.querySelectorAll('form[data-action]')) {
      form.addEventListener('submit', async (event) => {
        // The plain form post does the same, and is what a refused action falls back to (below).
        if (!api || !window.fetch || form.getAttribute('data-plain') === '1') return;
        event.preventDefault();
        const submitter = event.submitter || null;
        const kind = form.getAttribute('data-action');
        const buttons = form.querySelectorAll('button');
        for (const button of buttons) button.disabled = true;
        try {
          await post(api + '/' + kind, bodyOf(form, submitter));
        } catch (error) {
          for (const button of buttons) button.disabled = false;
          if ((error.status === 404 || error.status === 409 || error.status === 422) && form.requestSubmit) {
            // Refused for the alert's state or the fields: the server's page says why in the
            // page's language and shows the alert as it is now (the same call fails the same way).
            form.setAttribute('data-plain', '1');
            form.requestSubmit(submitter);
            return;
          }
          fail(error.message);
          return;
        }
        const done = kind === 'resolve' && submitter && submitter.value === 'false_alarm' ? 'false_alarm' : kind;
        location.replace(location.pathname + '?done=' + encodeURIComponent(done));
      });
    }

    document.addEventListener('keydown', (event) => {
      if (!event.altKey || event.ctrlKey || event.metaKey) return;
      // The physical key: Alt+A types "å" on a Mac keyboard.
      if (event.code !== 'KeyA' && (event.key || '').toLowerCase() !== 'a') return;
      const ack = document.getElementById('ack');
      if (!ack || ack.disabled) return;
      event.preventDefault();
      const form = ack.form;
      if (form && form.requestSubmit) form.requestSubmit(ack);
      else ack.click();
    });

    if (age) {
      setInterval(() => {
        for (const out of page.querySelectorAll('[data-since]')) out.textContent = age(Number(out.getAttribute('data-since')));
      }, 15000);
    }
  }

  const table = document.getElementById('alert-queue');
  if (table) queuePage(table);
  const page = document.getElementById('alert-page');
  if (page) alertPage(page);
})();
