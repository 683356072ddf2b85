/* Refreshes a region of a staff page in place (today board, my day) without a full reload.
 *
 * The region names its fragment URL and interval in data attributes. Requests carry
 * X-Attend-Background so they do not count as activity: after the idle limit the server signs
 * the user out, the next refresh is redirected to the sign-in page, and this script reloads the
 * page so client details leave the screen. A refresh waits while someone is typing inside the
 * region, and while the tab is hidden. Screen readers hear a one-line summary when it changes,
 * not the whole region.
 *
 * Only what changed is fetched: the request names the version of every session card on screen
 * (X-Attend-Have), and the server sends a card again only when its version changed; an unchanged
 * card comes back as an empty placeholder (data-keep) that is filled with the card on screen.
 */
(function () {
  "use strict";
  var region = document.querySelector("[data-refresh-url]");
  if (!region || !window.fetch) { return; }
  var url = region.getAttribute("data-refresh-url");
  var seconds = parseInt(region.getAttribute("data-refresh-seconds"), 10) || 20;
  var status = document.getElementById(region.getAttribute("data-status-id"));
  var busy = false;

  function typingInside() {
    var active = document.activeElement;
    return active && region.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
  }

  function announce(text) {
    if (status && text && status.textContent !== text) { status.textContent = text; }
  }

  function summaryText() {
    var summary = region.querySelector("[data-summary]");
    return summary ? summary.getAttribute("data-summary") : "";
  }

  function cardsOnScreen() {
    var have = [];
    region.querySelectorAll("[data-session][data-version]").forEach(function (card) {
      have.push(card.getAttribute("data-session") + ":" + card.getAttribute("data-version"));
    });
    return have.join(" ");
  }

  // The new region, with each placeholder replaced by the card on screen; null if one is missing
  // (then the whole region is fetched again).
  function merged(html) {
    var fresh = document.createElement("div");
    fresh.innerHTML = html;
    var pairs = [];
    var placeholders = fresh.querySelectorAll("[data-keep]");
    for (var i = 0; i < placeholders.length; i++) {
      var card = region.querySelector('[data-session="' + placeholders[i].getAttribute("data-keep") + '"]');
      if (!card) { return null; }
      pairs.push([placeholders[i], card]);
    }
    pairs.forEach(function (pair) { pair[0].replaceWith(pair[1]); });
    return fresh;
  }

  function refresh(full) {
    if (busy || document.hidden || typingInside()) { return; }
    busy = true;
    region.setAttribute("aria-busy", "true");
    var headers = { "X-Attend-Background": "1" };
    if (!full) { headers["X-Attend-Have"] = cardsOnScreen(); }
    var again = false;
    fetch(url, { headers: headers, credentials: "same-origin", redirect: "follow" })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.reload();  // signed out: let the server show the sign-in page
          return null;
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = merged(html);
        if (fresh === null) { again = true; return; }
        var before = summaryText();
        region.replaceChildren.apply(region, Array.prototype.slice.call(fresh.childNodes));
        region.removeAttribute("data-stale");
        var after = summaryText();
        if (after !== before) { announce(after); }
        region.dispatchEvent(new CustomEvent("attend:refreshed", { bubbles: true }));
      })
      .catch(function () {
        region.setAttribute("data-stale", "true");
        announce("Could not refresh: showing the last update. Retrying.");
      })
      .then(function () {
        busy = false;
        region.removeAttribute("aria-busy");
        if (again) { refresh(true); }
      });
  }

  window.setInterval(function () { refresh(false); }, seconds * 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(false); } });
})();
