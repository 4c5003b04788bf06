// The recipient's tracking page: live updates over graphql-transport-ws, and drop-off changes.
// Plain JavaScript served by the service itself: no build step, no CDN, works offline.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("tracking-data").textContent);
  const labels = data.labels;
  const token = data.token;
  const FIELDS = "status courierFirstName vehicleKind deliverFrom deliverUntil dropoffEtaAt dropoffLockerName " +
    "safePlaceAllowed neighbourAllowed redirectable";
  const SUBSCRIPTION = "subscription($token: String!) { trackedParcel(token: $token) { parcel { " + FIELDS +
    " } events { seq kind status occurredAt } } }";
  const REDIRECT = "mutation($i: RedirectTrackedParcelInput!) { redirectTrackedParcel(input: $i) { parcel { " +
    FIELDS + " } errors { field code message } } }";
  const seen = new Set();

  function text(id, value) {
    const el = document.getElementById(id);
    if (el) el.textContent = value;
  }
  function when(iso) {
    return iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "";
  }
  function clock(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function localiseTimes() {
    document.querySelectorAll("time[datetime]").forEach(function (t) { t.textContent = when(t.getAttribute("datetime")); });
  }
  function render(parcel) {
    const status = document.getElementById("status");
    status.textContent = labels.status[parcel.status] || parcel.status;
    status.dataset.status = parcel.status;
    text("window", clock(parcel.deliverFrom) + " - " + clock(parcel.deliverUntil) + ", " + when(parcel.deliverFrom).split(",")[0]);
    text("eta", parcel.dropoffEtaAt ? labels.eta + " " + clock(parcel.dropoffEtaAt) : "");
    text("courier", parcel.courierFirstName || parcel.vehicleKind
      ? (parcel.courierFirstName || labels.yourCourier) + (parcel.vehicleKind ? " (" + (labels.vehicle[parcel.vehicleKind] || parcel.vehicleKind) + ")" : "")
      : labels.noCourierYet);
    text("dropoff", parcel.dropoffLockerName ? labels.toLocker + " " + parcel.dropoffLockerName : labels.toAddress);
    const leave = [];
    if (parcel.safePlaceAllowed) leave.push(labels.safePlace);
    if (parcel.neighbourAllowed) leave.push(labels.neighbour);
    text("leave", leave.length ? labels.mayLeave + " " + leave.join(", ") : "");
    const redirect = document.getElementById("redirect");
    if (redirect) redirect.hidden = !parcel.redirectable;
  }
  function addEvents(events) {
    const list = document.getElementById("timeline");
    events.forEach(function (e) {
      if (seen.has(e.seq)) return;
      seen.add(e.seq);
      const li = document.createElement("li");
      li.dataset.seq = e.seq;
      const t = document.createElement("time");
      t.setAttribute("datetime", e.occurredAt);
      t.textContent = when(e.occurredAt);
      li.appendChild(t);
      li.appendChild(document.createTextNode(" " + (labels.event[e.kind] || e.kind)));
      list.appendChild(li);
    });
  }

  // --- graphql-transport-ws: connection_init, subscribe, next/error/complete, ping/pong; reconnects ---
  let backoff = 500;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/graphql", "graphql-transport-ws");
    document.body.dataset.live = "connecting";
    ws.onopen = function () { ws.send(JSON.stringify({ type: "connection_init", payload: {} })); };
    ws.onmessage = function (message) {
      const msg = JSON.parse(message.data);
      if (msg.type === "connection_ack") {
        ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: SUBSCRIPTION, variables: { token: token } } }));
      } else if (msg.type === "ping") {
        ws.send(JSON.stringify({ type: "pong" }));
      } else if (msg.type === "next" && msg.payload.data && msg.payload.data.trackedParcel) {
        backoff = 500;
        document.body.dataset.live = "on";
        const update = msg.payload.data.trackedParcel;
        render(update.parcel);
        addEvents(update.events);
      } else if (msg.type === "next" || msg.type === "error") {
        document.body.dataset.live = "ended";
        ws.onclose = null;
        ws.close();
      } else if (msg.type === "complete") {
        document.body.dataset.live = "ended";
      }
    };
    ws.onclose = function () {
      document.body.dataset.live = "reconnecting";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }

  // --- changing the drop-off: one idempotency key per choice, so a retried click changes nothing twice ---
  function newKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  let pendingKey = null;
  function redirect(input) {
    pendingKey = pendingKey || newKey();
    const result = document.getElementById("redirect-result");
    result.textContent = labels.saving;
    return fetch("/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query: REDIRECT, variables: { i: Object.assign({ token: token, idempotencyKey: pendingKey }, input) } }),
    }).then(function (r) { return r.json(); }).then(function (body) {
      const payload = body.data && body.data.redirectTrackedParcel;
      if (!payload) { result.textContent = labels.failed; return; }
      pendingKey = null;
      if (payload.errors.length) {
        result.textContent = payload.errors.map(function (e) { return e.message; }).join("; ");
        result.dataset.outcome = "error";
      } else {
        render(payload.parcel);
        result.textContent = labels.saved;
        result.dataset.outcome = "saved";
      }
    }, function () { result.textContent = labels.failed; });
  }
  const lockerButton = document.getElementById("redirect-locker");
  if (lockerButton) lockerButton.addEventListener("click", function () {
    redirect({ lockerId: document.getElementById("locker").value });
  });
  const leaveButton = document.getElementById("allow-leave");
  if (leaveButton) leaveButton.addEventListener("click", function () {
    const place = document.getElementById("safe-place").value.trim();
    redirect({ safePlace: place || null, allowNeighbour: document.getElementById("neighbour").checked });
  });

  localiseTimes();
  data.events.forEach(function (seq) { seen.add(seq); });
  connect();
})();
