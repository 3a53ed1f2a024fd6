// garssld live view: follows /events and draws each stream's latest
// window. Plain DOM, no framework, nothing fetched from outside.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const streamsEl = document.getElementById("streams");
  const template = document.getElementById("stream-template");
  let runID = document.body.dataset.runId;
  let windows = 20;
  let panels = new Map(); // stream name -> panel state
  let source = null;
  let retry = 1000;

  function text(el, s) { el.textContent = s == null ? "" : String(s); }
  function fmtMS(ms) { return ms ? ms + " ms" : "–"; }

  // panel returns the stream's panel, making it on first use.
  function panel(name) {
    let p = panels.get(name);
    if (p) return p;
    const el = template.content.firstElementChild.cloneNode(true);
    el.dataset.stream = name;
    text(el.querySelector(".name"), name);
    p = { el: el, events: [], pinned: null };
    for (const b of el.querySelectorAll("button[data-action]")) {
      b.addEventListener("click", () => setEnabled(p, name, b.dataset.action));
    }
    el.querySelector(".live").addEventListener("click", () => { unpin(p); });
    panels.set(name, p);
    streamsEl.appendChild(el);
    return p;
  }

  function setEnabled(p, name, action) {
    const out = p.el.querySelector(".set-result");
    text(out, action + "…");
    fetch("/streams/" + encodeURIComponent(name) + "/" + action, {
      method: "POST", headers: { "X-CSRF-Token": token }, credentials: "same-origin",
    }).then((r) => {
      text(out, r.ok ? "" : action + " refused: " + r.status);
    }, (err) => { text(out, action + " failed: " + err); });
  }

  // boxes draws det's first kept source (or first source) on svg, in the
  // original frame's pixels, which the viewBox maps to the displayed size.
  function boxes(svg, det) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const w = det.frame.width, h = det.frame.height;
    if (!w || !h) return;
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    const sx = det.frame.model_width ? w / det.frame.model_width : 1;
    const sy = det.frame.model_height ? h / det.frame.model_height : 1;
    for (const s of det.sources || []) {
      if (s.refined && s.changed && s.initial_bbox_model) {
        const b = s.initial_bbox_model;
        svg.appendChild(rect("box-initial", b[0] * sx, b[1] * sy, (b[2] - b[0]) * sx, (b[3] - b[1]) * sy));
      }
      const b = s.bbox;
      svg.appendChild(rect("box-final", b[0], b[1], b[2] - b[0], b[3] - b[1]));
      if (s.track_id) {
        const t = document.createElementNS(SVG, "text");
        t.setAttribute("class", "track-id");
        t.setAttribute("x", b[0] + 4);
        t.setAttribute("y", Math.max(b[1] - 6, h / 25));
        t.setAttribute("font-size", Math.round(h / 25));
        t.textContent = s.track_id.slice(-6);
        svg.appendChild(t);
      }
    }
  }

  function rect(cls, x, y, w, h) {
    const r = document.createElementNS(SVG, "rect");
    r.setAttribute("class", cls);
    r.setAttribute("x", x); r.setAttribute("y", y);
    r.setAttribute("width", Math.max(w, 1)); r.setAttribute("height", Math.max(h, 1));
    return r;
  }

  function picture(ev) {
    if (!ev.media) return "";
    return ev.media.frame || ev.media.model;
  }

  // show puts ev on the panel's stage and facts.
  function show(p, ev) {
    const el = p.el, det = ev.detection;
    const stage = el.querySelector(".stage");
    stage.dataset.seq = ev.seq;
    const img = stage.querySelector("img");
    const src = picture(ev);
    if (src) { img.src = src; img.hidden = false; } else { img.removeAttribute("src"); }
    boxes(stage.querySelector("svg"), det);
    const s = (det.sources || [])[0];
    text(el.querySelector(".seq"), ev.seq);
    text(el.querySelector(".label"), s ? s.label : det.audio.label || "–");
    text(el.querySelector(".confidence"), s ? s.label_confidence.toFixed(2) : (det.audio.confidence ? det.audio.confidence.toFixed(2) : "–"));
    text(el.querySelector(".status"), det.status + (det.error ? ": " + det.error : ""));
    text(el.querySelector(".gate"), s && s.gate ? (s.gate.skip_refine ? "skip refinement" : "refine") + (s.gate.reason ? " (" + s.gate.reason + ")" : "") : (s ? (s.refined ? "refine" : "skip refinement") : "–"));
    text(el.querySelector(".refine"), s ? (s.refined ? (s.changed ? "ran, changed the box" : "ran, box kept") : "did not run") : "–");
    text(el.querySelector(".track"), s && s.track_id ? s.track_id : "–");
    const l = det.latency_ms;
    text(el.querySelector(".age"), fmtMS(l.age_at_publish));
    text(el.querySelector(".latency"), "locate " + fmtMS(l.locate) + " · audio " + fmtMS(l.audio) + " · analysis " + fmtMS(l.analysis) + " · refine " + fmtMS(l.refine) + " · total " + fmtMS(l.total));
    const audio = el.querySelector("audio");
    if (ev.media && audio.dataset.seq !== String(ev.seq)) {
      audio.dataset.seq = ev.seq;
      audio.src = ev.media.audio;
    }
  }

  function thumb(p, ev) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "thumb";
    b.dataset.seq = ev.seq;
    b.title = "window " + ev.seq;
    const img = document.createElement("img");
    img.alt = "window " + ev.seq;
    const src = picture(ev);
    if (src) img.src = src; else b.classList.add("evicted");
    img.addEventListener("error", () => b.classList.add("evicted"));
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("preserveAspectRatio", "none");
    boxes(svg, ev.detection);
    b.append(img, svg);
    b.addEventListener("click", () => pin(p, ev, b));
    return b;
  }

  function pin(p, ev, b) {
    p.pinned = ev.seq;
    p.el.dataset.pinned = ev.seq;
    for (const t of p.el.querySelectorAll(".thumb.selected")) t.classList.remove("selected");
    b.classList.add("selected");
    p.el.querySelector(".live").hidden = false;
    show(p, ev);
    if (ev.media) {
      const audio = p.el.querySelector("audio");
      audio.play().catch(() => {});
    }
  }

  function unpin(p) {
    p.pinned = null;
    delete p.el.dataset.pinned;
    for (const t of p.el.querySelectorAll(".thumb.selected")) t.classList.remove("selected");
    p.el.querySelector(".live").hidden = true;
    if (p.events.length) show(p, p.events[p.events.length - 1]);
  }

  function detection(ev) {
    const p = panel(ev.stream);
    p.events.push(ev);
    const strip = p.el.querySelector(".strip");
    strip.appendChild(thumb(p, ev));
    while (p.events.length > windows) {
      p.events.shift();
      strip.removeChild(strip.firstChild);
    }
    p.el.dataset.seq = ev.seq;
    // Wall time of the handling, for measuring the delay from MQTT.
    p.el.dataset.receivedAt = String(performance.timeOrigin + performance.now());
    if (p.pinned == null) show(p, ev);
  }

  function state(name, st) {
    const p = panel(name);
    p.el.dataset.state = st.state;
    const el = p.el.querySelector(".state");
    el.dataset.state = st.state;
    text(el, st.state + (st.error ? ": " + st.error : ""));
  }

  function list(el, items, fill) {
    while (el.firstChild) el.removeChild(el.firstChild);
    for (const it of items || []) {
      const li = document.createElement("li");
      fill(li, it);
      el.appendChild(li);
    }
  }

  function ready(rep) {
    if (!rep) return;
    const r = document.getElementById("ready");
    r.dataset.ready = rep.ready;
    text(r, rep.ready ? "ready" : "NOT READY");
    const m = document.getElementById("mqtt");
    m.dataset.connected = rep.mqtt.connected;
    text(m, rep.mqtt.connected ? "connected" : "not connected");
    list(document.getElementById("ready-reasons"), rep.reasons, (li, s) => text(li, s));
    list(document.getElementById("ready-warnings"), rep.warnings, (li, s) => text(li, s));
    list(document.getElementById("endpoints"), rep.endpoints, (li, e) => {
      li.dataset.endpoint = e.endpoint;
      li.dataset.breaker = e.breaker;
      text(li, e.endpoint + ": breaker " + e.breaker + (e.refusing ? ", refusing" : "") + (e.problem ? ", " + e.problem : ""));
    });
  }

  function stats(all) {
    for (const [name, p] of panels) {
      const st = (all || {})[name] || {};
      const d = Object.entries(st.dropped || {}).filter(([, n]) => n > 0);
      text(p.el.querySelector(".drops"), d.length ? d.map(([r, n]) => r + " " + n).join(", ") : "none");
    }
  }

  // hello starts over from the daemon's state: after a restart (a new
  // run id) nothing of the old run is left on the page.
  function hello(h) {
    panels = new Map();
    while (streamsEl.firstChild) streamsEl.removeChild(streamsEl.firstChild);
    runID = h.run_id;
    document.body.dataset.runId = runID;
    text(document.getElementById("run-id"), runID);
    text(document.getElementById("version"), h.version);
    windows = h.windows || windows;
    for (const name of h.streams) panel(name);
    for (const [name, st] of Object.entries(h.states || {})) state(name, st);
    ready(h.ready);
    for (const name of h.streams) {
      for (const ev of (h.recent || {})[name] || []) detection(ev);
    }
    stats(h.stats);
  }

  function on(es, kind, fn) {
    es.addEventListener(kind, (m) => {
      try { fn(JSON.parse(m.data)); } catch (err) { console.warn("bad " + kind + " event", err); }
    });
  }

  function conn(s) {
    const c = document.getElementById("conn");
    c.dataset.state = s;
    text(c, s);
  }

  function connect() {
    conn("connecting");
    const es = new EventSource("/events");
    source = es;
    es.onopen = () => { retry = 1000; conn("open"); };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        // Refused (503: too many viewers, or stopping): the browser gives
        // up, so try again later ourselves.
        conn("closed");
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 30000);
      } else {
        conn("connecting");
      }
    };
    on(es, "hello", hello);
    on(es, "detection", detection);
    on(es, "state", (e) => state(e.stream, e.state));
    on(es, "ready", ready);
    on(es, "stats", stats);
  }

  connect();
})();
