/**
 * The console's only script, served as a file (/admin/static/console.js; CSP script-src 'self'):
 * a policy push's acked/total progress, and new events at the top of the Events table (their
 * time and badge as the server formats them: one home, one time zone). It writes text only (textContent), never HTML. Without it the pages still work (reload).
 */
export const LIVE_JS = `'use strict';
(function () {
  function get(url) {
    return fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); });
  }
  function every(ms, fn) { var run = function () { fn().catch(function () {}).then(function () { setTimeout(run, ms); }); }; run(); }

  var rollout = document.querySelector('[data-live=rollout]');
  if (rollout) {
    var bar = rollout.querySelector('progress');
    var text = rollout.querySelector('[data-text]');
    every(1500, function () {
      return get(rollout.getAttribute('data-url')).then(function (r) {
        bar.max = Math.max(1, r.total);
        bar.value = r.acked;
        text.textContent = r.acked + ' of ' + r.total + (r.total === 1 ? ' device has' : ' devices have') +
          ' applied the change' + (r.total > 0 && r.acked >= r.total ? ' — done.' : '.');
      });
    });
  }

  var events = document.querySelector('[data-live=events]');
  if (events) {
    var body = events.querySelector('tbody');
    var status = document.querySelector('[data-live-status]');
    var after = events.getAttribute('data-after') || '';
    var cols = ['at', 'deviceName', 'user', 'service', 'outcome', 'reason', 'rhost'];
    var labels = Array.prototype.map.call(events.querySelectorAll('thead th'), function (th) { return th.textContent; });
    every(2000, function () {
      var u = new URL(events.getAttribute('data-url'), location.href);
      if (after) u.searchParams.set('after', after);
      return get(u.pathname + u.search).then(function (r) {
        if (r.last !== null && r.last !== undefined) after = String(r.last);
        if (!r.events.length) return;
        var empty = body.querySelector('[data-empty]');
        if (empty) empty.remove();
        r.events.forEach(function (e) {
          var tr = document.createElement('tr');
          cols.forEach(function (k) {
            var td = document.createElement('td');
            td.setAttribute('data-label', labels[cols.indexOf(k)] || '');
            var v = k === 'deviceName' ? (e.deviceName || e.device) : e[k];
            if (k === 'at') td.className = 'when';
            if (k === 'at') v = e.atText;
            if (k === 'outcome') {
              var b = document.createElement('span');
              b.className = 'badge ' + e.badge;
              b.textContent = v;
              td.appendChild(b);
              if (e.afterRevocation === true) {
                var r2 = document.createElement('span');
                r2.className = 'badge bad';
                r2.title = 'uploaded by the device after it was revoked: a login it allowed before it knew';
                r2.textContent = 'after revocation';
                td.appendChild(document.createTextNode(' '));
                td.appendChild(r2);
              }
            } else td.textContent = v === undefined || v === null || v === '' ? '—' : String(v);
            tr.appendChild(td);
          });
          body.insertBefore(tr, body.firstChild);
        });
        if (status) status.textContent = r.events.length + (r.events.length === 1 ? ' new event' : ' new events') + ', the latest at ' + r.events[r.events.length - 1].atText + '.';
      });
    });
  }
})();
`;
