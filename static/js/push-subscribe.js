/* "Get a notification when it's time to join" (SPEC F9 step 5), on the client pages.
 * The button (templates/messaging/push_button.html) starts hidden and is shown only where
 * the browser can do web push and notifications are not blocked. A click registers the
 * service worker, subscribes with the practice's VAPID key and posts the subscription.
 * No inline script: CSP is script-src 'self'. */
(function () {
  "use strict";

  var button = document.querySelector("[data-push-subscribe]");
  if (!button) return;
  var box = button.closest("[data-push-box]") || button;
  var status = box.querySelector("[data-push-status]");
  // Hidden and shown through its container: .button's display rule overrides [hidden].
  var action = button.closest("[data-push-action]") || button;
  var subscribeUrl = button.getAttribute("data-subscribe-url");
  var publicKeyUrl = button.getAttribute("data-public-key-url");
  var workerUrl = button.getAttribute("data-worker-url") || "/push-sw.js";
  var POSTED_KEY = "attend-push-posted";

  function say(text) {
    if (status) status.textContent = text;
  }

  function supported() {
    return (
      window.isSecureContext === true &&
      "serviceWorker" in navigator &&
      "PushManager" in window &&
      "Notification" in window
    );
  }

  function csrfToken() {
    // The CSRF cookie is HttpOnly, so the token comes from the page.
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function keyBytes(base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = window.atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  var keyRequest = null;
  function publicKey() {
    if (!keyRequest) {
      keyRequest = fetch(publicKeyUrl, { credentials: "same-origin" }).then(function (response) {
        if (!response.ok) throw new Error("unavailable");
        return response.json().then(function (data) {
          if (!data.public_key) throw new Error("unavailable");
          return data.public_key;
        });
      });
    }
    return keyRequest;
  }

  function postSubscription(subscription) {
    var data = subscription.toJSON();
    return fetch(subscribeUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ endpoint: data.endpoint, keys: data.keys || {} }),
    }).then(function (response) {
      if (!response.ok) throw new Error("refused");
      try {
        window.sessionStorage.setItem(POSTED_KEY, subscribeUrl + " " + data.endpoint);
      } catch (error) {
        /* private mode: posting again next time is harmless */
      }
      return subscription;
    });
  }

  function alreadyPosted(subscription) {
    try {
      return window.sessionStorage.getItem(POSTED_KEY) === subscribeUrl + " " + subscription.endpoint;
    } catch (error) {
      return false;
    }
  }

  var subscribed = false;

  // The page's words in the client's language (the box's data-text, from the server); English if absent.
  function text(key, english) {
    var given = box.getAttribute("data-text-" + key.replace("_", "-"));
    return given || english;
  }

  function done() {
    subscribed = true;
    box.hidden = false;
    action.hidden = true;
    say(text("done", "You're all set: this device will show a notification when it's time to join."));
  }

  function blocked() {
    action.hidden = true;
    say(
      text(
        "blocked",
        "Notifications are turned off for this site in your browser. You'll still get your usual reminders."
      )
    );
  }

  function failed() {
    button.disabled = false;
    say(text("failed", "We couldn't turn on notifications on this device. You'll still get your usual reminders."));
  }

  function register() {
    return navigator.serviceWorker.register(workerUrl, { scope: "/" }).then(function () {
      return navigator.serviceWorker.ready;
    });
  }

  function subscribe() {
    button.disabled = true;
    say(text("turning_on", "Turning on notifications…"));
    var permission = Notification.permission === "granted" ? Promise.resolve("granted") : Notification.requestPermission();
    Promise.resolve(permission)
      .then(function (answer) {
        if (answer !== "granted") {
          if (answer === "denied") {
            blocked();
          } else {
            button.disabled = false;
            say(text("not_now", "Notifications were not turned on. You can try again at any time."));
          }
          return null;
        }
        return Promise.all([register(), publicKey()]).then(function (results) {
          var registration = results[0];
          return registration.pushManager
            .getSubscription()
            .then(function (existing) {
              return (
                existing ||
                registration.pushManager.subscribe({
                  userVisibleOnly: true,
                  applicationServerKey: keyBytes(results[1]),
                })
              );
            })
            .then(postSubscription)
            .then(done);
        });
      })
      .catch(function (error) {
        if (Notification.permission === "denied") blocked();
        else failed();
        button.setAttribute("data-error", (error && error.name) || "Error");
      });
  }

  // On load: show the button only where it can work, and keep an existing subscription known
  // to the server (this page's client may differ from the one who subscribed before).
  if (!supported() || Notification.permission === "denied") {
    action.hidden = true;
    box.hidden = true;
    return;
  }
  button.addEventListener("click", subscribe);
  // Shown only once the server has a key to offer (it has none where push is not set up).
  publicKey()
    .then(function () {
      box.hidden = false;
      if (!subscribed) action.hidden = false;
    })
    .catch(function () {
      /* push is not available from this server: the button stays hidden */
    });
  if (Notification.permission === "granted") {
    navigator.serviceWorker
      .getRegistration("/")
      .then(function (registration) {
        return registration ? registration.pushManager.getSubscription() : null;
      })
      .then(function (existing) {
        if (!existing) return;
        if (alreadyPosted(existing)) return done();
        return postSubscription(existing).then(done);
      })
      .catch(function () {
        /* leave the button for the client to try */
      });
  }
})();
