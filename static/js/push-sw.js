/* Attend's service worker: shows the "time to join" notification (SPEC F9 step 5).
 * Served at /push-sw.js (scope "/") by messaging.push_views.push_service_worker.
 * The payload is {"title", "body", "url"}: names, times and a link, nothing else. */
"use strict";

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

function safeUrl(value) {
  try {
    var url = new URL(value, self.location.origin);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : self.location.origin + "/";
  } catch (error) {
    return self.location.origin + "/";
  }
}

self.addEventListener("push", function (event) {
  var data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = {};
  }
  var title = typeof data.title === "string" && data.title ? data.title : "Your session";
  var options = {
    body: typeof data.body === "string" ? data.body : "",
    data: { url: safeUrl(data.url || "/") },
    tag: "attend-session",
    renotify: true,
    requireInteraction: true,
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || self.location.origin + "/";
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        // The page already open on this link (e.g. the "it's a little early" page): use it.
        if (windows[i].url === url && "focus" in windows[i]) {
          return windows[i].navigate(url).then(function (client) {
            return client ? client.focus() : self.clients.openWindow(url);
          });
        }
      }
      return self.clients.openWindow(url);
    })
  );
});
