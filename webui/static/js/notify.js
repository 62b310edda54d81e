// The bell: short polling with an ETag (an unchanged count costs a bodiless 304), paused while the tab
// is hidden. When the count rises on the inbox or the notification list, that page's content is
// fetched again and swapped in, so a new task shows without a reload.
(function () {
  "use strict";
  var bell = document.querySelector(".bell[data-badge-url]");
  if (!bell) { return; }
  var count = bell.querySelector(".bell__count");
  var url = bell.getAttribute("data-badge-url");
  var etag = '"' + bell.getAttribute("data-tag") + '"';
  var every = 5000;
  var live = /^\/(inbox|notifications)\/?$/.test(window.location.pathname);

  function show(unread) {
    count.textContent = String(unread);
    count.setAttribute("data-count", String(unread));
    count.hidden = unread === 0;
  }

  function refreshPage() {
    fetch(window.location.href, { credentials: "same-origin" }).then(function (answer) {
      return answer.ok ? answer.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("#main");
      var main = document.querySelector("#main");
      if (fresh && main) { main.innerHTML = fresh.innerHTML; }
    }).catch(function () {});
  }

  function poll() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { "If-None-Match": etag }, cache: "no-cache" })
      .then(function (answer) {
        if (answer.status !== 200) { return null; }
        etag = answer.headers.get("ETag") || etag;
        return answer.json();
      }).then(function (data) {
        if (!data) { return; }
        var before = Number(count.getAttribute("data-count") || "0");
        show(data.unread);
        if (live && data.unread > before) { refreshPage(); }
      }).catch(function () {});
  }

  window.setInterval(poll, every);
  document.addEventListener("visibilitychange", poll);
})();
