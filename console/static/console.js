// Live refresh for the Hookline console. The pages work without this
// file; it only keeps parts of them current. An element with
// data-refresh="URL" gets its contents replaced by the fragment the server
// renders at URL (the same template, escaped there) every data-every
// milliseconds, while the tab is visible and focus is not inside it, so
// the filter, the scroll position and the keyboard's place are kept.
"use strict";
(function () {
  function start(el) {
    var every = Number(el.getAttribute("data-every")) || 5000;
    var url = el.getAttribute("data-refresh");
    function tick() {
      if (document.hidden || el.contains(document.activeElement)) {
        setTimeout(tick, every);
        return;
      }
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) {
          if (r.redirected) {
            window.location.reload(); // the session ended: show the login form
            return null;
          }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== undefined && html !== el.innerHTML) {
            el.innerHTML = html;
            el.setAttribute("data-refreshed", String(Date.now()));
          }
        })
        .catch(function () {})
        .then(function () { setTimeout(tick, every); });
    }
    setTimeout(tick, every);
  }
  document.querySelectorAll("[data-refresh]").forEach(start);
})();
