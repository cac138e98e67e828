// The push service worker of the phone page, served at /sw.js so that it may open any page of
// the site. A push carries the Web Push channel's JSON (alerts/channels/webpush.py build_payload):
//   {"event": "alert.opened", "delivery_id": "…", "sent_at": "…",
//    "alert": {"id", "status", "severity", "title", "site": {"id", "name"}, "zone", "ack_url", …}}
// A payload may also carry "title" and "body" of its own; they win when present.
// Trimmed payloads keep id, status, severity, title, site name and ack_url, which is all this uses.
"use strict";

var SEVERITY = { critical: "紧急", major: "严重", minor: "一般", warning: "预警", info: "提示" };
var EVENT = {
  "alert.opened": "新告警",
  "alert.escalated": "告警升级",
  "alert.reminder": "告警提醒（仍未响应）",
  "alert.acknowledged": "告警已响应",
  "alert.resolved": "告警已解除"
};

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function text(value) { return typeof value === "string" ? value : ""; }

function webUrl(value) {
  // Only links of this site or plain web links: a payload never opens another scheme.
  if (typeof value !== "string" || !value) return null;
  try {
    var url = new URL(value, self.location.origin);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch (e) {
    return null;
  }
}

function notificationOf(data) {
  var alert = data && typeof data.alert === "object" && data.alert ? data.alert : {};
  var site = alert.site && typeof alert.site === "object" ? alert.site : {};
  var severity = text(alert.severity);
  var event = text(data.event);
  var critical = severity === "critical";
  var title = text(data.title) || text(alert.title) || "文物安全告警";
  var body = text(data.body);
  if (!body) {
    var parts = [];
    if (EVENT[event]) parts.push("【" + EVENT[event] + "】");
    if (SEVERITY[severity]) parts.push(SEVERITY[severity]);
    if (text(site.name)) parts.push(text(site.name));
    if (text(alert.zone)) parts.push(text(alert.zone));
    body = parts.join(" ");
  }
  var id = text(alert.id);
  var target = webUrl(alert.ack_url) || (id ? new URL("/alerts/" + encodeURIComponent(id), self.location.origin).href
    : new URL("/m", self.location.origin).href);
  return {
    title: title,
    options: {
      body: body,
      // One notification per alert: an escalation or reminder replaces the earlier one and rings again.
      tag: id ? "alert-" + id : undefined,
      renotify: Boolean(id),
      requireInteraction: critical,
      vibrate: critical ? [600, 200, 600, 200, 600, 200, 600] : [300, 150, 300],
      lang: "zh-CN",
      timestamp: Date.parse(text(data.sent_at)) || Date.now(),
      data: { url: target, alertId: id }
    }
  };
}

self.addEventListener("push", function (event) {
  var data = {};
  if (event.data) {
    try {
      data = event.data.json();
    } catch (e) {
      data = { body: event.data.text() };
    }
  }
  var shown = notificationOf(data || {});
  event.waitUntil(self.registration.showNotification(shown.title, shown.options));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || new URL("/m", self.location.origin).href;
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
    for (var i = 0; i < windows.length; i += 1) {
      if (windows[i].url === url && "focus" in windows[i]) return windows[i].focus();
    }
    return self.clients.openWindow(url);
  }));
});
