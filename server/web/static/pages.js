// Infinite scroll for the paged listings (server/web/paging.py): when a page's link to the
// older page (`nav.pages a[rel=next]`) comes near the screen, fetches that page, appends
// the entries of its list (the element with `data-pages` and this list's id) to this one,
// takes over its link, or removes the nav after the last page, and announces how many
// entries came (the fetched list's `data-announce`, in the page's language) in an
// aria-live region. Without this script, or without IntersectionObserver, the link works
// as it is.
(function () {
  "use strict";
  var list = document.querySelector("[data-pages][id]");
  var nav = document.querySelector("nav.pages");
  if (!list || !nav || !nav.querySelector("a[rel=next]")) {
    return;
  }
  if (!window.fetch || !window.IntersectionObserver || !window.DOMParser) {
    return;
  }
  var status = document.createElement("p");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  list.parentNode.insertBefore(status, list.nextSibling);
  var busy = false;
  var observer = new IntersectionObserver(
    function (entries) {
      if (entries.some(function (entry) { return entry.isIntersecting; })) {
        load();
      }
    },
    { rootMargin: "0px 0px 400px 0px" }
  );

  function stop() {
    observer.disconnect();
  }

  function append(more) {
    var added = 0;
    Array.prototype.slice.call(more.children).forEach(function (item) {
      var id = item.getAttribute("data-id");
      if (id && list.querySelector('[data-id="' + id + '"]')) {
        return; // already here (the live updates of the home timeline put it on top)
      }
      list.appendChild(document.importNode(item, true));
      added += 1;
    });
    return added;
  }

  function load() {
    var link = nav.querySelector("a[rel=next]");
    if (busy || !link) {
      return;
    }
    busy = true;
    fetch(link.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (text) {
        var page = new DOMParser().parseFromString(text, "text/html");
        var more = page.getElementById(list.id);
        var added = more ? append(more) : 0;
        var next = page.querySelector("nav.pages a[rel=next]");
        if (next) {
          link.setAttribute("href", next.getAttribute("href"));
        } else {
          stop();
          nav.remove();
        }
        if (added && more.getAttribute("data-announce")) {
          status.textContent = more.getAttribute("data-announce");
        }
        busy = false;
        if (next) {
          // Observing anew reports whether the link is still in view (a short page).
          observer.unobserve(nav);
          observer.observe(nav);
        }
      })
      .catch(function () {
        // Leave the link as it is: following it still shows the older page.
        busy = false;
        stop();
      });
  }

  observer.observe(nav);
})();
