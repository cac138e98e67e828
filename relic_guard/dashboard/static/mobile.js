// The phone page's helpers. The page works without them (plain forms); they add:
// - no double acknowledgement or double report from a second tap on a slow connection;
// - large camera photos shrunk on the phone before upload (the server takes at most 5 MB);
// - a hint when the open alerts changed since the page was loaded (checked every 30 s);
// - the Web Push subscription behind #push-subscribe.
// Every word shown comes from the page (data-* attributes), so the page's language applies.
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function sending(form) {
    var button = form.querySelector('button[type="submit"]');
    if (!button) return;
    button.disabled = true;
    if (button.dataset.sending) button.textContent = button.dataset.sending;
  }

  // Acknowledge: the form posts as it is; only the second tap is stopped.
  document.querySelectorAll("form.m-ack-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      sending(form);
    });
  });

  // Hazard report: shrink a large photo, then send the form natively.
  var MAX_EDGE = 2560;
  var SHRINK_ABOVE = 3 * 1024 * 1024;

  function shrink(file) {
    // createImageBitmap applies the EXIF orientation, so a portrait photo stays upright.
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, MAX_EDGE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      if (bitmap.close) bitmap.close();
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (blob) {
          if (blob) resolve(blob); else reject(new Error("toBlob failed"));
        }, "image/jpeg", 0.85);
      });
    }).then(function (blob) {
      var name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
      return new File([blob], name, { type: "image/jpeg", lastModified: Date.now() });
    });
  }

  var hazardForm = document.getElementById("hazard-form");
  if (hazardForm) {
    hazardForm.addEventListener("submit", function (event) {
      if (hazardForm.dataset.sent) { event.preventDefault(); return; }
      var input = hazardForm.querySelector('input[type="file"]');
      var file = input && input.files && input.files[0];
      var canShrink = typeof createImageBitmap === "function" && typeof DataTransfer === "function";
      if (!file || file.size <= SHRINK_ABOVE || !canShrink || hazardForm.dataset.shrunk) {
        hazardForm.dataset.sent = "1";
        sending(hazardForm);
        return;
      }
      event.preventDefault();
      sending(hazardForm);
      shrink(file).then(function (smaller) {
        var transfer = new DataTransfer();
        transfer.items.add(smaller);
        input.files = transfer.files;
      }).catch(function () {
        // Not decodable here (an unusual format): send it as it is and let the server judge it.
      }).then(function () {
        hazardForm.dataset.shrunk = "1";
        hazardForm.dataset.sent = "1";
        hazardForm.submit();
      });
    });
  }

  // Open alerts changed since the page was rendered? Offer a reload rather than reloading
  // by itself, which would throw away a half-written hazard report.
  var alertsSection = document.getElementById("m-alerts");
  var changed = document.getElementById("alerts-changed");
  var reload = document.getElementById("alerts-reload");
  if (reload) reload.addEventListener("click", function () { window.location.reload(); });

  function renderedState() {
    var seen = [];
    document.querySelectorAll(".m-alert[data-id]").forEach(function (card) {
      seen.push(card.dataset.id + "=" + card.dataset.status);
    });
    return seen.sort().join(" ");
  }

  function checkAlerts() {
    if (document.hidden || !changed || !changed.hidden) return;
    fetch("/api/alerts?status=open,acknowledged&limit=1000", { credentials: "same-origin",
      headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (!body || !Array.isArray(body.alerts)) return;
        var now = body.alerts.map(function (a) { return a.id + "=" + a.status; }).sort().join(" ");
        if (now !== renderedState()) changed.hidden = false;
      })
      .catch(function () { /* offline for a moment: try again next time */ });
  }

  if (alertsSection && alertsSection.dataset.complete === "true") {
    window.setInterval(checkAlerts, 30000);
    document.addEventListener("visibilitychange", checkAlerts);
  }

  // Web Push.
  var pushButton = document.getElementById("push-subscribe");
  var pushSection = document.getElementById("m-push");
  var pushStatus = document.getElementById("push-status");

  function say(key, extra) {
    if (!pushStatus || !pushSection) return;
    pushStatus.textContent = (pushSection.dataset[key] || "") + (extra || "");
  }

  function keyBytes(base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = window.atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function sameKey(subscription, key) {
    var current = subscription.options && subscription.options.applicationServerKey;
    if (!current) return false;
    var a = new Uint8Array(current);
    if (a.length !== key.length) return false;
    for (var i = 0; i < a.length; i += 1) if (a[i] !== key[i]) return false;
    return true;
  }

  function apiError(response) {
    return response.json().then(function (body) {
      throw new Error(body && body.error ? body.error : "HTTP " + response.status);
    }, function () { throw new Error("HTTP " + response.status); });
  }

  function subscribe() {
    var ids = (pushButton.dataset.pushIds || "").split(" ").filter(Boolean);
    var registration;
    var key;
    pushButton.disabled = true;
    say("msgWorking");
    return Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") throw new Error("denied");
      return navigator.serviceWorker.register("/sw.js", { scope: "/" });
    }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (ready) {
      registration = ready;
      return fetch("/api/push/key", { credentials: "same-origin", headers: { "Accept": "application/json" } });
    }).then(function (response) {
      return response.ok ? response.json() : apiError(response);
    }).then(function (body) {
      key = keyBytes(body.public_key);
      return registration.pushManager.getSubscription();
    }).then(function (existing) {
      // A subscription made for another server key cannot carry this server's pushes.
      if (existing && !sameKey(existing, key)) return existing.unsubscribe().then(function () { return null; });
      return existing;
    }).then(function (existing) {
      return existing || registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    }).then(function (subscription) {
      var body = subscription.toJSON();
      return ids.reduce(function (previous, id) {
        return previous.then(function () {
          return fetch("/api/push/subscriptions", {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
            body: JSON.stringify({ id: id, subscription: body })
          }).then(function (response) { return response.ok ? null : apiError(response); });
        });
      }, Promise.resolve());
    }).then(function () {
      say("msgOk");
    }).catch(function (error) {
      if (error && error.message === "denied") say("msgDenied");
      else say("msgFailed", error && error.message ? error.message : String(error));
    }).then(function () {
      pushButton.disabled = false;
    });
  }

  if (pushButton) {
    var supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
    if (!supported) {
      pushButton.disabled = true;
      say("msgUnsupported");
    } else {
      pushButton.addEventListener("click", function () { subscribe(); });
    }
  }
})();
