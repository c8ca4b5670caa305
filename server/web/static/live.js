// Live updates of the home timeline (server/web/home.py): asks /home/updates for what is
// newer than the newest entry shown, puts it on top and announces it in the aria-live
// region. The page works without this script; it only saves reloading.
(function () {
  "use strict";
  var list = document.getElementById("timeline");
  var status = document.getElementById("live-status");
  if (!list || !list.dataset.updates || !window.fetch) {
    return;
  }
  var every = Math.max(2, parseInt(list.dataset.every, 10) || 5) * 1000;
  var busy = false;

  function poll() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    var url = list.dataset.updates + "&since=" + encodeURIComponent(list.dataset.since);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (!data || !data.count) {
          return;
        }
        var template = document.createElement("template");
        template.innerHTML = data.html;
        var fresh = Array.prototype.filter.call(template.content.children, function (li) {
          return !list.querySelector('li[data-id="' + li.dataset.id + '"]');
        });
        for (var i = fresh.length - 1; i >= 0; i--) {
          list.insertBefore(fresh[i], list.firstElementChild);
        }
        var empty = document.getElementById("timeline-empty");
        if (empty && fresh.length) {
          empty.remove();
        }
        list.dataset.since = data.newest;
        if (status && fresh.length) {
          status.textContent = data.announce;
        }
      })
      .catch(function () {})
      .then(function () {
        busy = false;
      });
  }

  window.setInterval(poll, every);
})();
