// Edda console: live updates over server-sent events (no framework, no build step).
(function () {
  "use strict";
  var body = document.body;
  var root = body.dataset.root || "";
  var live = body.dataset.live;
  var state = document.getElementById("live-state");
  var busy = false;
  var again = false;

  function editing() {
    var el = document.activeElement;
    var main = document.getElementById("content");
    return main && el && main.contains(el) && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName);
  }

  function refresh() {
    if (busy) { again = true; return; }
    if (editing()) { state.textContent = "changed (reload to see)"; return; }
    busy = true;
    fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("content");
        var main = document.getElementById("content");
        if (fresh && main && !editing()) {
          main.replaceWith(fresh);
          body.dataset.liveUpdates = String(Number(body.dataset.liveUpdates || "0") + 1);
          state.textContent = "live · updated " + new Date().toLocaleTimeString();
        }
      })
      .catch(function () { state.textContent = "update failed"; })
      .finally(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  if (live && window.EventSource) {
    var source = new EventSource(root + "/live?" + live);
    source.addEventListener("open", function () {
      body.dataset.liveState = "open";
      state.textContent = "live";
    });
    source.addEventListener("error", function () {
      body.dataset.liveState = "reconnecting";
      state.textContent = "reconnecting…";
    });
    source.addEventListener("changed", refresh);
    window.addEventListener("pagehide", function () { source.close(); });
  }
})();
