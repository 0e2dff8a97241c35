// The one client script (no build step): live parts of a page re-render from the server, and a
// running task's log streams in over Server-Sent Events.
//  - <section data-live="5000" id="x">: every 5 s, fetch this page again (once for all live parts)
//    and swap in the new #x (skipped while focus is inside it, so a keyboard user is not moved);
//    once the fresh #x has no data-live (what it shows has ended), it stops, and so do the ticks
//    when no live part is left. A refresh sent to the sign-in form (key revoked) goes there.
//    A live part may carry its validator (data-etag, the workflow page's): it is sent back
//    (If-None-Match) and a 304 means nothing changed since it was drawn, so nothing is swapped.
//  - <pre data-follow="/ui/tasks/ID/logs/stream">: the stream replays the log from its start, so
//    the stored text is replaced line by line with no gap; on its end event the page reloads the
//    live parts once more; on a refused event (the key was revoked) it stops and says so.
export const LIVE_SCRIPT = `(() => {
  'use strict';
  const live = () => [...document.querySelectorAll('[data-live][id]')];
  let timer = null;
  // One fetch of the page per tick, every live part swapped from it. A part the server no longer
  // marks live (its task or workflow ended) stops updating, and with none left the ticks stop.
  const refresh = async () => {
    const parts = live().filter((el) => !el.contains(document.activeElement));
    if (document.hidden || parts.length === 0) return;
    // The parts' validator, when every part has the same one (the page drew them together).
    const tag = parts[0].getAttribute('data-etag');
    const headers = { 'x-jarvis-live': '1' };
    if (tag && parts.every((el) => el.getAttribute('data-etag') === tag)) headers['if-none-match'] = tag;
    try {
      const res = await fetch(location.href, { headers, credentials: 'same-origin' });
      // The key was revoked meanwhile: the page went to the sign-in form; go there, saying so.
      if (res.redirected && new URL(res.url).pathname === '/ui/login') { location.assign(res.url); return; }
      // 304: nothing changed since the parts were drawn (and the key may still see them).
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      for (const el of parts) {
        const fresh = doc.getElementById(el.id);
        if (!fresh) continue;
        if (fresh.innerHTML !== el.innerHTML) el.innerHTML = fresh.innerHTML;
        if (!fresh.hasAttribute('data-live')) el.removeAttribute('data-live');
        if (fresh.hasAttribute('data-etag')) el.setAttribute('data-etag', fresh.getAttribute('data-etag'));
        else el.removeAttribute('data-etag');
      }
      if (live().length === 0 && timer !== null) { clearInterval(timer); timer = null; }
    } catch (e) { /* the next tick tries again */ }
  };
  const start = () => {
    const every = live().map((el) => Math.max(1000, Number(el.getAttribute('data-live')) || 5000));
    if (every.length) timer = setInterval(refresh, Math.min(...every));
    for (const pre of document.querySelectorAll('pre[data-follow]')) {
      const state = document.getElementById(pre.id + '-state');
      const source = new EventSource(pre.getAttribute('data-follow'));
      let first = true;
      source.onopen = () => { first = true; };
      source.onmessage = (ev) => {
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        if (first) { pre.textContent = ''; first = false; }
        pre.textContent += ev.data + '\\n';
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      };
      source.addEventListener('end', (ev) => {
        source.close();
        let info = {};
        try { info = JSON.parse(ev.data); } catch (e) { /* keep {} */ }
        if (state) state.textContent = 'Log complete (task ' + (info.status || 'ended') + ').';
        refresh();
      });
      // The signed-in key was revoked while the log streamed: stop (no reconnect), say so, and let
      // the live parts' refresh go to the sign-in form.
      source.addEventListener('refused', (ev) => {
        source.close();
        let info = {};
        try { info = JSON.parse(ev.data); } catch (e) { /* keep {} */ }
        if (state) state.textContent = 'Live log stopped: ' + (info.detail || 'the key is no longer accepted') + '.';
        refresh();
      });
      source.onerror = () => { if (state && source.readyState === 2) state.textContent = 'Live log disconnected; reload to see the rest.'; };
      if (state) state.textContent = 'Live: following the log as it is written.';
    }
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
`;
